-- pgbench script for scripts/bench: the transaction POST /api/v1/documents runs with an
-- Idempotency-Key (every request of the benchmark sends a fresh one, as docs/API.md tells
-- clients to), replayed straight against PostgreSQL, for one document tenant. Written once per
-- tenant like get_audited.sql (@K@, @TENANT@, @USER@ and @SUBJECT@: the tenant's editor) and run
-- with all of them at equal weights. The values are those of the body wrk sends
-- (scripts/bench.d/haven.lua, mode post) with the request's number n.
--
-- 1. haven_db::TenantTx::begin: BEGIN, the role, the tenant, one round trip (see get_audited.sql).
-- 2. haven_db::idempotency::create (crates/db/src/idempotency.rs): claim the key,
--    `insert into idempotency_keys ... on conflict do nothing` ($1 tenant, $2 user, $3 key,
--    $4 the request hash: the service sends the SHA-256 of the canonical body; a constant here).
-- 3. The same function's second statement verbatim: the document and the key's link to it
--    ($1 tenant, $2 user, $3 title, $4 filename, $5 content type, $6 size, $7 status,
--    $8 metadata, $9 storage location, $10 key). Its row is kept (\gset doc_) for the event.
-- 4. TenantTx::commit (crates/db/src/tenant.rs, audit_event.rs): the document.create event
--    ($1 tenant, $2 actor, $3 subject, $4 action, $5 resource type, $6 the new id, $7 outcome,
--    $8 request id, $9 client ip, $10 user agent (wrk sends none), $11 changed fields, $12
--    emergency), returning its id.
-- 5. COMMIT.
-- Five round trips, as in the service.
\set n random(1, 1000000000)
\set key random(1, 9000000000000000)
\startpipeline
begin;
set local role haven_app;
select set_config('app.tenant_id', '@TENANT@', true);
\endpipeline
insert into idempotency_keys (tenant_id, user_id, key, request_hash) values ('@TENANT@'::uuid, '@USER@'::uuid, 'pgbench-@K@-' || :key::text, '\x5be1f0f4a6f0b1d3c8e2a7b9d0c4e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9'::bytea) on conflict do nothing;
with created as (  insert into documents (tenant_id, created_by, title, filename, content_type,  size_bytes, status, metadata, storage_location)  values ('@TENANT@'::uuid, '@USER@'::uuid, '\x00'::bytea || convert_to('Bench upload ' || :n::text, 'UTF8'), '\x00'::bytea || convert_to('bench-upload-' || :n::text || '.pdf', 'UTF8'), 'application/pdf', :n::int8, 'pending', '\x00'::bytea || convert_to('{"pages": 3, "source": "bench"}', 'UTF8'), 's3://haven-bench/uploads/' || :n::text || '.pdf') returning id, tenant_id, title, filename, content_type, size_bytes, status, metadata, storage_location, created_by, created_at, updated_at, deleted_at), linked as (  update idempotency_keys set document_id = (select id from created)  where tenant_id = '@TENANT@'::uuid and user_id = '@USER@'::uuid and key = 'pgbench-@K@-' || :key::text) select * from created \gset doc_
insert into audit_events (tenant_id, actor_user_id, actor_subject, action, resource_type, resource_id, outcome, request_id, client_ip, user_agent, changed_fields, emergency) values ('@TENANT@'::uuid, '@USER@'::uuid, '@SUBJECT@', 'document.create', 'document', :doc_id, 'success', 'f3b1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d', '127.0.0.1'::inet, null::text, null::text[], false) returning id;
commit;
