-- The tenant context every row-level security policy reads. Two transaction-local settings:
--
--   app.tenant_id  set by the tenant-scoped transaction (haven_db::TenantTx) right after BEGIN,
--                  together with SET LOCAL ROLE haven_app. Unset or empty means "no tenant": the
--                  policies then match nothing, and no error is raised.
--   app.unscoped   'on' only inside the owner's maintenance transactions (operator commands, the
--                  audit sealer and verifier, the tenant lookup that runs before any tenant is
--                  known). Policies that honour it are granted TO the owner only, never to
--                  haven_app, so setting it inside a tenant transaction changes nothing.
--
-- Both are plain SQL functions, so the planner inlines them: `tenant_id = haven_current_tenant()`
-- is a stable expression that index scans can use.

create function haven_current_tenant() returns uuid
    language sql stable parallel safe
    as $$ select nullif(pg_catalog.current_setting('app.tenant_id', true), '')::uuid $$;

comment on function haven_current_tenant() is
    'The tenant of the current transaction (app.tenant_id), or NULL when unset: policies then match nothing.';

create function haven_unscoped() returns boolean
    language sql stable parallel safe
    as $$ select coalesce(pg_catalog.current_setting('app.unscoped', true), '') = 'on' $$;

comment on function haven_unscoped() is
    'True inside an owner maintenance transaction (app.unscoped = on). Only policies granted to the owner read it.';
