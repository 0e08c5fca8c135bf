-- The audit trail: one row per audited access, written in the same transaction as the access.
-- Rows are inserted unsealed; the sealer (haven_db::audit_chain) later fills the chain columns
-- (seq, prev_hash, hash, sealed_at) per tenant, in order, outside the request path.
create table audit_events (
    id             uuid primary key default gen_random_uuid(),
    tenant_id      uuid not null references tenants (id),
    occurred_at    timestamptz not null default now(),
    actor_user_id  uuid,
    actor_subject  text check (char_length(actor_subject) <= 255),
    action         text not null check (char_length(action) between 1 and 64),
    resource_type  text not null check (char_length(resource_type) between 1 and 64),
    resource_id    text check (char_length(resource_id) <= 255),
    outcome        text not null check (outcome in ('success', 'denied', 'error')),
    request_id     text check (char_length(request_id) <= 128),
    client_ip      inet,
    user_agent     text check (char_length(user_agent) <= 512),
    -- For updates: the names of the changed fields, never their values.
    changed_fields text[],
    -- The hash chain, NULL until sealed: seq is the event's place in its tenant's chain (1, 2, ...),
    -- hash = sha256(prev_hash || canonical encoding of the event).
    seq            bigint,
    prev_hash      bytea,
    hash           bytea,
    sealed_at      timestamptz,
    constraint audit_events_seal_complete check (
        (seq is null and prev_hash is null and hash is null and sealed_at is null)
        or (seq >= 1 and octet_length(prev_hash) = 32 and octet_length(hash) = 32
            and sealed_at is not null))
);

-- One event per chain position (unsealed rows have NULL seq, and NULLs never collide): even a
-- buggy sealer cannot give two events the same place.
create unique index audit_events_tenant_seq_key on audit_events (tenant_id, seq);
-- GET /api/v1/audit-events: newest first, keyset on (occurred_at, id); one index per filter so a
-- deep page costs what the first page costs.
create index audit_events_tenant_time_idx on audit_events (tenant_id, occurred_at desc, id desc);
create index audit_events_tenant_actor_idx
    on audit_events (tenant_id, actor_user_id, occurred_at desc, id desc);
create index audit_events_tenant_action_idx
    on audit_events (tenant_id, action, occurred_at desc, id desc);
create index audit_events_tenant_resource_idx
    on audit_events (tenant_id, resource_type, resource_id, occurred_at desc, id desc);
-- The sealer's work queue: small, because rows leave it within seconds.
create index audit_events_unsealed_idx on audit_events (tenant_id, occurred_at, id)
    where sealed_at is null;

alter table audit_events enable row level security;
alter table audit_events force row level security;

create policy audit_events_tenant_read on audit_events for select to haven_app
    using (tenant_id = haven_current_tenant());
create policy audit_events_tenant_insert on audit_events for insert to haven_app
    with check (tenant_id = haven_current_tenant());

-- The sealer and the verifier run as the owner in maintenance transactions.
do $$
begin
    execute format(
        'create policy audit_events_unscoped on audit_events to %I using (haven_unscoped()) with check (haven_unscoped())',
        current_user);
end
$$;

-- The runtime role reads and appends, nothing else. It may not choose the id or the time, and
-- cannot insert a row that claims to be sealed: the chain columns are not in its grant.
grant select on audit_events to haven_app;
grant insert (tenant_id, actor_user_id, actor_subject, action, resource_type, resource_id, outcome,
              request_id, client_ip, user_agent, changed_fields)
    on audit_events to haven_app;
