-- An insert-only audit chain. Until V12 the sealer UPDATEd every event (seq, prev_hash, hash,
-- sealed_at): each event was written twice, through every index, and the sealer fell behind under
-- load. Now events are never updated. Sealing appends one row per tenant per batch to
-- audit_seals; the chain's formula is unchanged (docs/DATA_MODEL.md), and the events sealed the
-- old way keep their chain columns and stay covered by a "legacy" seal made here from
-- audit_chain_heads.

-- The chain key. A seal covers a tenant's events in (txid, id) order up to its last key. txid is
-- the inserting transaction's id: the sealer only takes events whose transaction is older than
-- every transaction still running (pg_snapshot_xmin), so no event can ever commit below a sealed
-- key. Events recorded before V15 read 0 here (no table rewrite).
alter table audit_events add column txid bigint not null default 0 check (txid >= 0);
alter table audit_events alter column txid set default (pg_current_xact_id()::text::bigint);

-- The sealer's and the verifier's index. Partial: events sealed the old way are never in it, so
-- the sealer's probes never walk them. The old seal columns get a partial index of their own, which
-- no new event enters.
create index audit_events_chain_idx on audit_events (tenant_id, txid, id) where seq is null;
drop index audit_events_unsealed_idx;
drop index audit_events_tenant_seq_key;
create unique index audit_events_legacy_seq_key on audit_events (tenant_id, seq)
    where seq is not null;

-- One row per sealed batch. The chain runs through the events as before:
-- hash(n) = sha256("haven.audit.v1\0" || hash(n - 1) || canonical(event n, n)), where the
-- canonical form now ends with client_request_id when the event has one (nothing when it has
-- none, so an event without one encodes as before; docs/DATA_MODEL.md); a seal stores,
-- for its positions first_seq..last_seq, the events' ids and those hashes in order, so verify
-- names the exact event that changed, went missing or moved. prev_hash is the previous seal's
-- last_hash (32 zero bytes for position 1); last_hash commits to every event up to last_seq.
create table audit_seals (
    tenant_id     uuid not null references tenants (id),
    first_seq     bigint not null check (first_seq >= 1),
    last_seq      bigint not null,
    -- first_seq - 1, NULL for the first seal: the foreign key below makes every seal continue
    -- exactly where an existing seal of the tenant ends.
    prev_seq      bigint,
    prev_hash     bytea not null check (octet_length(prev_hash) = 32),
    last_hash     bytea not null check (octet_length(last_hash) = 32),
    -- The chain key of the last event covered: the tenant's events above it are not sealed yet.
    last_txid     bigint not null,
    last_event_id uuid not null,
    -- NULL only for the legacy seal of events sealed before V15 (they carry their own hashes).
    event_ids     uuid[],
    event_hashes  bytea,
    sealed_at     timestamptz not null default now(),
    primary key (tenant_id, last_seq),
    -- Two seals never start at the same position: sealers racing on one tenant cannot fork it.
    constraint audit_seals_one_per_position unique (tenant_id, first_seq),
    constraint audit_seals_continue_a_seal foreign key (tenant_id, prev_seq)
        references audit_seals (tenant_id, last_seq),
    check (last_seq >= first_seq),
    check ((first_seq = 1 and prev_seq is null and prev_hash = decode(repeat('00', 32), 'hex'))
           or prev_seq = first_seq - 1),
    check ((event_ids is null and event_hashes is null and first_seq = 1)
           or (cardinality(event_ids) = last_seq - first_seq + 1
               and octet_length(event_hashes) = 32 * cardinality(event_ids)
               and event_ids[cardinality(event_ids)] = last_event_id))
);

-- Random ids and hashes do not compress: store them out of line without trying.
alter table audit_seals alter column event_ids set storage external;
alter table audit_seals alter column event_hashes set storage external;

-- Which seal covers an event (its seq and sealed_at for the audit API).
create index audit_seals_key_idx on audit_seals (tenant_id, last_txid, last_event_id);

alter table audit_seals enable row level security;
alter table audit_seals force row level security;

-- A tenant may read (and so verify) its own seals through a tenant transaction.
create policy audit_seals_tenant_read on audit_seals for select to haven_app
    using (tenant_id = haven_current_tenant());

do $$
begin
    execute format(
        'create policy audit_seals_unscoped on audit_seals to %I using (haven_unscoped()) with check (haven_unscoped())',
        current_user);
end
$$;

grant select on audit_seals to haven_app;

-- The events sealed the old way: one legacy seal per tenant, ending where its chain head was.
insert into audit_seals (tenant_id, first_seq, last_seq, prev_seq, prev_hash, last_hash,
                         last_txid, last_event_id, sealed_at)
select tenant_id, 1, last_seq, null, decode(repeat('00', 32), 'hex'), last_hash,
       0, '00000000-0000-0000-0000-000000000000', updated_at
from audit_chain_heads
where last_seq > 0;

drop table audit_chain_heads;

-- Append-only for everyone, the owner and the sealer included: no event and no seal is ever
-- updated, deleted or truncated. Statement-level, so refused even when no row matches, and with
-- no column list, so it covers every column (client_request_id, V14, included) and any added
-- later. The seal-only trigger (V11, re-created by V14 with client_request_id) goes: nothing
-- updates an event any more, not even to seal it.
drop trigger audit_events_seal_only on audit_events;
drop function audit_events_seal_only();

create trigger audit_events_no_update
    before update on audit_events
    for each statement execute function audit_events_refuse();

create function audit_seals_refuse() returns trigger
    language plpgsql
    as $$
begin
    raise exception 'audit_seals is append-only: % is not allowed', tg_op
        using errcode = 'HV001';
end
$$;

create trigger audit_seals_no_update
    before update on audit_seals
    for each statement execute function audit_seals_refuse();
create trigger audit_seals_no_delete
    before delete on audit_seals
    for each statement execute function audit_seals_refuse();
create trigger audit_seals_no_truncate
    before truncate on audit_seals
    for each statement execute function audit_seals_refuse();

-- The sealer takes only events with txid below this: every transaction with a smaller id has
-- ended, so nothing can still commit below a sealed key. It is the statement snapshot's oldest
-- running transaction, except that transactions known not to be able to write audit events are
-- skipped (another database's, an autovacuum worker's): a long job elsewhere on the server does
-- not hold sealing back. A running transaction this cannot place (one that ended meanwhile, or
-- whose session another role owns) counts as blocking until the next round.
create function audit_seal_horizon() returns bigint
    language sql stable
    as $$
    select coalesce(min(x::text::bigint),
                    pg_snapshot_xmax(pg_current_snapshot())::text::bigint)
    from pg_snapshot_xip(pg_current_snapshot()) as running(x)
    where not exists (
        select 1 from pg_stat_activity a
        where a.backend_xid = xid(running.x)
          and (a.datname is distinct from current_database()
               or a.backend_type = 'autovacuum worker'))
      and not exists (
        select 1 from pg_prepared_xacts p
        where p.transaction = xid(running.x) and p.database <> current_database())
$$;

-- An event's place in its chain and when it was sealed, for either form; NULLs while unsealed.
create function audit_event_seal(e audit_events)
    returns table (seq bigint, sealed_at timestamptz)
    language sql stable
    as $$
    select e.seq, e.sealed_at where e.seq is not null
    union all
    select p.seq, p.sealed_at from (
        select s.first_seq + array_position(s.event_ids, e.id) - 1 as seq, s.sealed_at
        from audit_seals s
        where e.seq is null and s.tenant_id = e.tenant_id
          and (s.last_txid, s.last_event_id) >= (e.txid, e.id) and s.event_ids is not null
        order by s.last_txid, s.last_event_id
        limit 1) p
    where p.seq is not null
$$;

-- Incremental verification: per tenant, the last seal a verification found intact. A verify
-- starts after it (or from the start when asked for a full check). Written by the verifier, as
-- the owner or through the tenant's own transaction.
create table audit_verifications (
    tenant_id   uuid primary key references tenants (id),
    last_seq    bigint not null check (last_seq >= 1),
    last_hash   bytea not null check (octet_length(last_hash) = 32),
    verified_at timestamptz not null default now()
);

alter table audit_verifications enable row level security;
alter table audit_verifications force row level security;

create policy audit_verifications_tenant on audit_verifications to haven_app
    using (tenant_id = haven_current_tenant()) with check (tenant_id = haven_current_tenant());

do $$
begin
    execute format(
        'create policy audit_verifications_unscoped on audit_verifications to %I using (haven_unscoped()) with check (haven_unscoped())',
        current_user);
end
$$;

grant select, insert, update on audit_verifications to haven_app;
