-- Patients: the canonical PHI entity. mrn, family_name and birth_date are only ever matched
-- exactly (family_name case-insensitively), so they can later become ciphertext plus a blind
-- index without changing what the API offers.
create table patients (
    id          uuid primary key default gen_random_uuid(),
    tenant_id   uuid not null references tenants (id),
    mrn         text not null check (char_length(mrn) between 1 and 64),
    given_name  text not null check (char_length(given_name) between 1 and 200),
    family_name text not null check (char_length(family_name) between 1 and 200),
    birth_date  date not null check (birth_date between '1850-01-01' and '9999-12-31'),
    sex         text not null check (sex in ('female', 'male', 'other', 'unknown')),
    contact     jsonb not null default '{}'
                check (jsonb_typeof(contact) = 'object' and octet_length(contact::text) <= 8192),
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    deleted_at  timestamptz,
    -- The target of the composite foreign keys that keep references inside one tenant.
    constraint patients_tenant_id_key unique (tenant_id, id)
);

-- One live patient per mrn in a tenant; a deleted patient's mrn may be given again.
create unique index patients_tenant_mrn_key on patients (tenant_id, mrn) where deleted_at is null;
-- The list: newest first, keyset on (created_at, id); and its exact-match filters.
create index patients_tenant_list_idx on patients (tenant_id, created_at desc, id desc)
    where deleted_at is null;
create index patients_tenant_family_name_idx on patients (tenant_id, lower(family_name))
    where deleted_at is null;
create index patients_tenant_birth_date_idx on patients (tenant_id, birth_date)
    where deleted_at is null;

alter table patients enable row level security;
alter table patients force row level security;

create policy patients_tenant_isolation on patients to haven_app
    using (tenant_id = haven_current_tenant())
    with check (tenant_id = haven_current_tenant());

do $$
begin
    execute format(
        'create policy patients_unscoped on patients to %I using (haven_unscoped()) with check (haven_unscoped())',
        current_user);
end
$$;

-- No DELETE: deletion is soft (deleted_at).
grant select, insert, update on patients to haven_app;

-- A document may belong to a patient of its own tenant: the composite key makes another
-- tenant's patient id a foreign-key violation (23503), whatever the caller can see.
alter table documents add column patient_id uuid;
alter table documents add constraint documents_patient_fkey foreign key (tenant_id, patient_id)
    references patients (tenant_id, id);
create index documents_tenant_patient_list_idx
    on documents (tenant_id, patient_id, created_at desc, id desc)
    where deleted_at is null and patient_id is not null;

-- An Idempotency-Key may create a patient as well as a document.
alter table idempotency_keys add column patient_id uuid;
alter table idempotency_keys add constraint idempotency_keys_patient_fkey
    foreign key (tenant_id, patient_id) references patients (tenant_id, id);
