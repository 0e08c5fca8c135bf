-- Seeds :events audit events for tenant :'tenant' (run as the superuser: it may insert every
-- column; row-level security does not apply to it). Unsealed (chain columns NULL), as the
-- service writes them; the running service's sealer chains them afterwards. occurred_at spreads
-- the events over the past year, one every ~31.5 s, with the actor, action, resource and outcome
-- varying the way a busy tenant's would.
insert into audit_events (tenant_id, occurred_at, actor_user_id, actor_subject, action,
                          resource_type, resource_id, outcome, request_id, client_ip, user_agent,
                          changed_fields, emergency)
select :'tenant'::uuid,
       now() - make_interval(secs => n * 31.5),
       :'user'::uuid,
       'bench-auditor',
       a.action,
       case when a.action like 'document.%' then 'document' when a.action = 'user.list' then 'user' else 'audit_event' end,
       case when a.action like 'document.%' and a.action <> 'document.list' then md5((n % 10000)::text)::uuid::text end,
       case when n % 50 = 0 then 'denied' else 'success' end,
       md5('request-' || n)::uuid::text,
       ('10.0.' || (n % 250) || '.' || (1 + n % 200))::inet,
       'Mozilla/5.0 (X11; Linux x86_64) bench/' || (n % 7),
       case when a.action = 'document.update' then array['title', 'status'] end,
       n % 1000 = 0
from generate_series(1, :events) as n
cross join lateral (
    select (array['document.read', 'document.read', 'document.read', 'document.list',
                  'document.create', 'document.update', 'document.delete', 'user.list',
                  'audit.list'])[1 + (n % 9)] as action
) as a;
