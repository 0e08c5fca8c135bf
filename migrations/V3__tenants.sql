-- Tenants: one row per customer organisation. external_id is the value of the token's tenant
-- claim (whatever string the identity provider uses, e.g. "org-456").
create table tenants (
    id          uuid primary key default gen_random_uuid(),
    external_id text not null unique check (char_length(external_id) between 1 and 128),
    name        text not null check (char_length(name) between 1 and 200),
    status      text not null default 'active' check (status in ('active', 'suspended')),
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);

-- FORCE: the owner is subject to the policies too, unless it is a superuser (which bypasses RLS
-- regardless; that is why tenant transactions switch to haven_app).
alter table tenants enable row level security;
alter table tenants force row level security;

-- Inside a tenant transaction the runtime role sees its own tenant's row and nothing else.
create policy tenants_own_row on tenants for select to haven_app
    using (id = haven_current_tenant());

-- The owner (the user that runs migrations, the same one the service connects as) reaches every
-- row only inside an explicit maintenance transaction (app.unscoped = on). A non-superuser owner
-- that forgets both TenantTx and the maintenance marker sees nothing.
do $$
begin
    execute format(
        'create policy tenants_unscoped on tenants to %I using (haven_unscoped()) with check (haven_unscoped())',
        current_user);
end
$$;

grant select on tenants to haven_app;

-- The one read that happens before the tenant is known: authentication maps the token's claim
-- to a tenant. It runs as the caller (the owner) with app.unscoped on for the query only, then
-- puts the previous value back, in one round trip. (A `SET app.unscoped = 'on'` clause on the
-- function would be simpler, but PostgreSQL 15 lets only a superuser attach an undefined custom
-- setting to a function, and the owner need not be one.) If the query fails, the transaction
-- fails with it, so the marker cannot outlive the call either way.
-- haven_db::tenants::lookup_by_external_id_unscoped is its only caller.
create function tenant_by_external_id_unscoped(p_external_id text) returns setof tenants
    language plpgsql
    as $$
declare
    previous constant text := coalesce(pg_catalog.current_setting('app.unscoped', true), '');
begin
    perform pg_catalog.set_config('app.unscoped', 'on', true);
    return query select * from tenants where external_id = p_external_id;
    perform pg_catalog.set_config('app.unscoped', previous, true);
end
$$;

revoke execute on function tenant_by_external_id_unscoped(text) from public;
