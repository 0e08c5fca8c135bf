-- Seeds :docs documents for tenant :'tenant' (the :k-th document tenant), created by user
-- :'user' (run as the superuser, which bypasses row-level security). Ids are md5(k-n)::uuid, so
-- wrk and pgbench can name document n of tenant k (get_audited.sql). Created times spread over
-- the last :docs minutes. PHI columns in the plaintext form (0x00 || text) the service reads
-- while PHI_ACCEPT_LEGACY_PLAINTEXT=true; `haven phi encrypt-existing` encrypts them.
insert into documents (id, tenant_id, title, filename, content_type, size_bytes, status, metadata,
                       storage_location, created_by, created_at, updated_at)
select md5(:'k' || '-' || n)::uuid,
       :'tenant'::uuid,
       '\x00'::bytea || convert_to('Bench document ' || n, 'UTF8'),
       '\x00'::bytea || convert_to('document-' || n || '.pdf', 'UTF8'),
       'application/pdf',
       1024 + (n * 7919) % 5000000,
       (array['pending', 'processing', 'ready', 'failed', 'archived'])[1 + n % 5],
       '\x00'::bytea || convert_to(jsonb_build_object('department', (array['cardiology', 'radiology', 'oncology'])[1 + n % 3],
                          'pages', 1 + n % 40, 'source', 'bench')::text, 'UTF8'),
       's3://haven-bench/' || :'tenant' || '/' || md5(:'k' || '-' || n),
       :'user'::uuid,
       now() - make_interval(mins => n),
       now() - make_interval(mins => n)
from generate_series(1, :docs) as n;
