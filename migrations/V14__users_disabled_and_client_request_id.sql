-- User lifecycle: an administrator (or `haven users disable`) can disable a user of a tenant.
-- A disabled user's requests are refused with 403 USER_001 on every replica within a second
-- (the change is announced with NOTIFY, see crates/api/src/invalidation.rs); enabling clears it.
-- Unlike `deleted_at` (removal), the row stays listed and the user can be enabled again.
alter table users add column disabled_at timestamptz;

-- Audit events keep the server's request id (`request_id`, generated for every request, unique)
-- and, separately, the id the client sent in X-Request-ID (`client_request_id`), so two callers
-- choosing the same id can no longer make their events look like one request.
alter table audit_events add column client_request_id text
    check (char_length(client_request_id) <= 128);

grant insert (client_request_id) on audit_events to haven_app;

-- The seal-only trigger (V11) lists the recorded columns: the new one joins them, so it cannot
-- be changed after the fact either.
drop trigger audit_events_seal_only on audit_events;

create trigger audit_events_seal_only
    before update on audit_events
    for each row
    when (old.sealed_at is not null
          or new.sealed_at is null
          or (old.id, old.tenant_id, old.occurred_at, old.actor_user_id, old.actor_subject,
              old.action, old.resource_type, old.resource_id, old.outcome, old.request_id,
              old.client_ip, old.user_agent, old.changed_fields, old.emergency,
              old.client_request_id)
             is distinct from
             (new.id, new.tenant_id, new.occurred_at, new.actor_user_id, new.actor_subject,
              new.action, new.resource_type, new.resource_id, new.outcome, new.request_id,
              new.client_ip, new.user_agent, new.changed_fields, new.emergency,
              new.client_request_id))
    execute function audit_events_seal_only();
