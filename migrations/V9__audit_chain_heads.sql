-- The head of each tenant's audit hash chain: the last sealed position and hash. Only the sealer
-- (the owner, in a maintenance transaction holding the tenant's advisory lock) writes it; the
-- verifier compares it with the last sealed event, so cutting events off the end shows.
create table audit_chain_heads (
    tenant_id  uuid primary key references tenants (id),
    last_seq   bigint not null default 0 check (last_seq >= 0),
    last_hash  bytea not null default decode(repeat('00', 32), 'hex')
               check (octet_length(last_hash) = 32),
    updated_at timestamptz not null default now()
);

alter table audit_chain_heads enable row level security;
alter table audit_chain_heads force row level security;

-- A tenant may verify its own chain through a tenant transaction.
create policy audit_chain_heads_tenant_read on audit_chain_heads for select to haven_app
    using (tenant_id = haven_current_tenant());

do $$
begin
    execute format(
        'create policy audit_chain_heads_unscoped on audit_chain_heads to %I using (haven_unscoped()) with check (haven_unscoped())',
        current_user);
end
$$;

grant select on audit_chain_heads to haven_app;
