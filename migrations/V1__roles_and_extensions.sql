-- The runtime role every tenant transaction switches to (SET LOCAL ROLE haven_app).
-- NOLOGIN: nobody connects as it; NOBYPASSRLS and no ownership: row-level security always
-- applies to it, even when the connecting user (Railway's default) is a superuser.
--
-- Roles are cluster-wide while the migration lock is per database: two databases of one
-- cluster migrating at once may both try to create the role, so losing that race is fine.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'haven_app') then
        create role haven_app nologin nosuperuser nobypassrls noinherit nocreatedb nocreaterole;
    end if;
exception when duplicate_object or unique_violation then
    null;
end
$$;

-- The connecting user must be a member to SET ROLE to it (a superuser always may).
do $$
begin
    if not pg_has_role(current_user, 'haven_app', 'member') then
        execute format('grant haven_app to %I', current_user);
    end if;
exception when duplicate_object or unique_violation then
    null;
end
$$;

grant usage on schema public to haven_app;
