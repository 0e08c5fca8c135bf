-- Per-tenant data keys for field-level PHI encryption (crate haven-phi, docs/DATA_MODEL.md).
-- Only the wrapped (KMS-encrypted, or locally wrapped in development) form is stored; the
-- plaintext key exists only in the service's memory.
--
--   purpose      'encryption': AES-256-GCM keys, one version per rotation;
--                'blind_index': the root of the tenant's HMAC key for exact-match search; it is
--                not rotated with the encryption keys, so blind indexes stay stable.
--   state        'active'        the version new writes use (at most one per tenant and purpose);
--                'decrypt_only'  an older version rows may still use (after `rotate-key`);
--                'retired'       nothing uses it any more: the wrapped key is gone;
--                'shredded'      the tenant was crypto-shredded: the wrapped key is gone.
--   wrapped_by   'kms:<key arn>' or 'local': a key wrapped one way is never unwrapped the other.
create table tenant_keys (
    tenant_id   uuid not null references tenants (id),
    purpose     text not null check (purpose in ('encryption', 'blind_index')),
    version     integer not null check (version between 1 and 1000000),
    state       text not null check (state in ('active', 'decrypt_only', 'retired', 'shredded')),
    wrapped_key bytea check (octet_length(wrapped_key) between 16 and 4096),
    wrapped_by  text not null check (char_length(wrapped_by) between 1 and 2048),
    created_at  timestamptz not null default now(),
    -- When the version stopped being used for new writes (rotate-key).
    demoted_at  timestamptz,
    retired_at  timestamptz,
    shredded_at timestamptz,
    primary key (tenant_id, purpose, version),
    -- A usable version has its wrapped key; a retired or shredded one has none left.
    constraint tenant_keys_wrapped_key_by_state check (
        (state in ('active', 'decrypt_only')) = (wrapped_key is not null))
);

-- One active version per tenant and purpose.
create unique index tenant_keys_one_active_key on tenant_keys (tenant_id, purpose)
    where state = 'active';

alter table tenant_keys enable row level security;
alter table tenant_keys force row level security;

-- Inside a tenant transaction the runtime role reads its tenant's keys and may create the first
-- ones (lazily, on first use); rotation, retirement and shredding are owner operations.
create policy tenant_keys_tenant_read on tenant_keys for select to haven_app
    using (tenant_id = haven_current_tenant());
create policy tenant_keys_tenant_create on tenant_keys for insert to haven_app
    with check (tenant_id = haven_current_tenant() and state = 'active' and version = 1);

do $$
begin
    execute format(
        'create policy tenant_keys_unscoped on tenant_keys to %I using (haven_unscoped()) with check (haven_unscoped())',
        current_user);
end
$$;

grant select on tenant_keys to haven_app;
grant insert (tenant_id, purpose, version, state, wrapped_key, wrapped_by) on tenant_keys to haven_app;
