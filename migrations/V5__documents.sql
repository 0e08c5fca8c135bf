-- Documents: metadata about a stored file. The bytes live elsewhere (storage_location).
create table documents (
    id               uuid primary key default gen_random_uuid(),
    tenant_id        uuid not null references tenants (id),
    title            text not null check (char_length(title) between 1 and 500),
    filename         text not null check (char_length(filename) between 1 and 255),
    content_type     text not null check (char_length(content_type) between 1 and 255),
    size_bytes       bigint not null default 0 check (size_bytes >= 0),
    status           text not null default 'pending'
                     check (status in ('pending', 'processing', 'ready', 'failed', 'archived')),
    metadata         jsonb not null default '{}'
                     check (jsonb_typeof(metadata) = 'object' and octet_length(metadata::text) <= 65536),
    storage_location text check (char_length(storage_location) between 1 and 2048),
    created_by       uuid not null,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    deleted_at       timestamptz,
    constraint documents_tenant_id_key unique (tenant_id, id),
    -- The creator is a user of the same tenant.
    constraint documents_created_by_fkey foreign key (tenant_id, created_by)
        references users (tenant_id, id)
);

-- The list endpoint: newest first, keyset on (created_at, id), soft-deleted rows excluded.
create index documents_tenant_list_idx on documents (tenant_id, created_at desc, id desc)
    where deleted_at is null;
-- The same list filtered by status.
create index documents_tenant_status_list_idx on documents (tenant_id, status, created_at desc, id desc)
    where deleted_at is null;

alter table documents enable row level security;
alter table documents force row level security;

create policy documents_tenant_isolation on documents to haven_app
    using (tenant_id = haven_current_tenant())
    with check (tenant_id = haven_current_tenant());

do $$
begin
    execute format(
        'create policy documents_unscoped on documents to %I using (haven_unscoped()) with check (haven_unscoped())',
        current_user);
end
$$;

-- No DELETE: deletion is soft (deleted_at).
grant select, insert, update on documents to haven_app;
