-- Field-level PHI encryption (haven-phi): the PHI columns of patients and documents become
-- `bytea` holding haven-phi's versioned format: 0x01 || key version || nonce || AES-256-GCM
-- ciphertext and tag, bound to tenant, table, column and row id; or 0x00 || UTF-8 text for a
-- value stored before encryption (every existing row below), which the service still reads
-- and `haven phi encrypt-existing` converts. Exact-match search and mrn uniqueness move to
-- blind indexes (`*_bidx`): a per-tenant HMAC of the normal form once encrypted; until then
-- 0x00 || the normal form (mrn as is, family_name lower-cased, birth_date YYYY-MM-DD).

-- The length and shape checks applied to text; the API validates the same limits.
alter table patients
    drop constraint patients_mrn_check,
    drop constraint patients_given_name_check,
    drop constraint patients_family_name_check,
    drop constraint patients_birth_date_check,
    drop constraint patients_contact_check;
alter table patients alter column contact drop default;

drop index patients_tenant_mrn_key;
drop index patients_tenant_family_name_idx;
drop index patients_tenant_birth_date_idx;

alter table patients
    add column mrn_bidx bytea,
    add column family_name_bidx bytea,
    add column birth_date_bidx bytea;

update patients set
    mrn_bidx = '\x00'::bytea || convert_to(mrn, 'UTF8'),
    family_name_bidx = '\x00'::bytea || convert_to(lower(family_name), 'UTF8'),
    birth_date_bidx = '\x00'::bytea || convert_to(to_char(birth_date, 'YYYY-MM-DD'), 'UTF8');

alter table patients
    alter column mrn type bytea using '\x00'::bytea || convert_to(mrn, 'UTF8'),
    alter column given_name type bytea using '\x00'::bytea || convert_to(given_name, 'UTF8'),
    alter column family_name type bytea using '\x00'::bytea || convert_to(family_name, 'UTF8'),
    alter column birth_date type bytea
        using '\x00'::bytea || convert_to(to_char(birth_date, 'YYYY-MM-DD'), 'UTF8'),
    alter column contact type bytea using '\x00'::bytea || convert_to(contact::text, 'UTF8'),
    alter column mrn_bidx set not null,
    alter column family_name_bidx set not null,
    alter column birth_date_bidx set not null;

-- One live patient per mrn in a tenant, on its blind index (same name as before: the API maps
-- a 23505 on it to 409 RES_002).
create unique index patients_tenant_mrn_key on patients (tenant_id, mrn_bidx)
    where deleted_at is null;
create index patients_tenant_family_name_idx on patients (tenant_id, family_name_bidx)
    where deleted_at is null;
create index patients_tenant_birth_date_idx on patients (tenant_id, birth_date_bidx)
    where deleted_at is null;

alter table documents
    drop constraint documents_title_check,
    drop constraint documents_filename_check,
    drop constraint documents_metadata_check;
alter table documents alter column metadata drop default;
alter table documents
    alter column title type bytea using '\x00'::bytea || convert_to(title, 'UTF8'),
    alter column filename type bytea using '\x00'::bytea || convert_to(filename, 'UTF8'),
    alter column metadata type bytea using '\x00'::bytea || convert_to(metadata::text, 'UTF8');
