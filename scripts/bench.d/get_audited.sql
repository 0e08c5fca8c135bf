-- pgbench script for scripts/bench: the transaction GET /api/v1/documents/{id} runs, replayed
-- straight against PostgreSQL, for one document tenant. scripts/bench writes one copy per tenant
-- (placeholders @K@ the tenant's number, @TENANT@ its id, @USER@ and @SUBJECT@ its viewer, @DOCS@
-- documents per tenant) and gives pgbench all of them with equal weights (-f FILE@1 each), so
-- the transactions spread over the tenants as wrk's requests do. Document ids are
-- md5('k-n')::uuid for n in 1..@DOCS@ (that is how they were seeded), so the id is computed in
-- place of a bind parameter.
--
-- 1. haven_db::TenantTx::begin (crates/db/src/tenant.rs): BEGIN, the role, the tenant. The
--    service sends these three as ONE simple-query message (one round trip). The extended
--    protocol of -M prepared takes one statement per message, so they go as a pipeline of three
--    prepared statements and one Sync: one round trip too. The whole transaction is then three
--    round trips, as in the service: the set-up, the statement, COMMIT.
-- 2. haven_db::documents::get through TenantTx::fetch_optional_audited (crates/db/src/tenant.rs,
--    the insert from crates/db/src/audit_event.rs), the statement verbatim with its 18 binds as
--    values: $1 tenant, $2 id, then the event: $3 tenant, $4 actor user id, $5 subject,
--    $6 action, $7 resource type, $8 resource id, $9 outcome if found (else 'denied'),
--    $10 request id, $11 client ip, $12 user agent (wrk sends none), $13 changed fields (none
--    on a read), $14 emergency, $15 client request id (none), $16-$18 the error code (none when
--    found, RES_001 otherwise). scripts/bench.d/reference-server/src/read.rs sends the same.
-- 3. COMMIT.
\set n random(1, @DOCS@)
\startpipeline
begin;
set local role haven_app;
select set_config('app.tenant_id', '@TENANT@', true);
\endpipeline
with found as (select id, tenant_id, title, filename, content_type, size_bytes, status, metadata, storage_location, patient_id, created_by, created_at, updated_at, deleted_at from documents where tenant_id = '@TENANT@'::uuid and id = md5('@K@-' || :n::text)::uuid and deleted_at is null), recorded as (insert into audit_events (tenant_id, actor_user_id, actor_subject, action, resource_type, resource_id, outcome, request_id, client_ip, user_agent, changed_fields, emergency, client_request_id, error_code) values ('@TENANT@'::uuid, '@USER@'::uuid, '@SUBJECT@', 'document.read', 'document', md5('@K@-' || :n::text)::uuid::text, case when exists (select 1 from found) then 'success' else 'denied' end, 'f3b1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d', '127.0.0.1'::inet, null::text, null::text[], false, null::text, case when exists (select 1 from found) then null::text when exists (select 1 from found) then 'RES_001' else 'RES_001' end)) select * from found;
commit;
