-- The cursor of the row at :offset (newest first) of tenant :'tenant', as the service encodes it
-- (crates/db/src/page.rs): base64url without padding of version byte 1, occurred_at in
-- microseconds since the epoch (int8, big endian), the 16 id bytes. A page requested with it
-- starts right after that row.
select rtrim(translate(encode('\x01'::bytea
                              || int8send((extract(epoch from occurred_at) * 1000000)::int8)
                              || uuid_send(id), 'base64'), '+/', '-_'), '=')
from audit_events
where tenant_id = :'tenant'::uuid
order by occurred_at desc, id desc
offset :offset limit 1;
