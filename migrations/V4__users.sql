-- Users: one row per (tenant, token subject), created on first sight by the authentication layer.
create table users (
    id           uuid primary key default gen_random_uuid(),
    tenant_id    uuid not null references tenants (id),
    subject      text not null check (char_length(subject) between 1 and 255),
    email        text check (char_length(email) between 3 and 320),
    display_name text check (char_length(display_name) between 1 and 200),
    last_seen_at timestamptz,
    created_at   timestamptz not null default now(),
    deleted_at   timestamptz,
    constraint users_tenant_subject_key unique (tenant_id, subject),
    -- Target of the composite foreign keys that keep references inside one tenant.
    constraint users_tenant_id_key unique (tenant_id, id)
);

-- GET /api/v1/users: the tenant's live users, oldest first, keyset-paginated.
create index users_tenant_list_idx on users (tenant_id, created_at, id) where deleted_at is null;

alter table users enable row level security;
alter table users force row level security;

create policy users_tenant_isolation on users to haven_app
    using (tenant_id = haven_current_tenant())
    with check (tenant_id = haven_current_tenant());

do $$
begin
    execute format(
        'create policy users_unscoped on users to %I using (haven_unscoped()) with check (haven_unscoped())',
        current_user);
end
$$;

grant select, insert, update on users to haven_app;
