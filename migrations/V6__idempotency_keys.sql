-- Idempotency-Key on document creation: the first request with a key wins; a retry with the same
-- body replays its result, a different body under the same key is refused.
create table idempotency_keys (
    tenant_id    uuid not null references tenants (id),
    user_id      uuid not null,
    key          text not null check (char_length(key) between 1 and 255),
    -- Hash of the canonical request body, computed by the API.
    request_hash bytea not null check (octet_length(request_hash) between 1 and 64),
    document_id  uuid,
    created_at   timestamptz not null default now(),
    primary key (tenant_id, user_id, key),
    constraint idempotency_keys_user_fkey foreign key (tenant_id, user_id)
        references users (tenant_id, id),
    constraint idempotency_keys_document_fkey foreign key (tenant_id, document_id)
        references documents (tenant_id, id)
);

alter table idempotency_keys enable row level security;
alter table idempotency_keys force row level security;

create policy idempotency_keys_tenant_isolation on idempotency_keys to haven_app
    using (tenant_id = haven_current_tenant())
    with check (tenant_id = haven_current_tenant());

do $$
begin
    execute format(
        'create policy idempotency_keys_unscoped on idempotency_keys to %I using (haven_unscoped()) with check (haven_unscoped())',
        current_user);
end
$$;

-- No DELETE: expiring old keys is an owner job.
grant select, insert, update on idempotency_keys to haven_app;
