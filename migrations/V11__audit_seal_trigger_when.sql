-- Sealing cost: the seal-only trigger (V8) ran a PL/pgSQL function on every sealed row and
-- compared the whole old and new rows as jsonb, about a quarter of the sealer's UPDATE time
-- (docs/PERFORMANCE.md). The same rules now sit in the trigger's WHEN condition, which the
-- executor evaluates without calling the function; the function runs only for an update that
-- breaks a rule, to raise the error that says which.
--
-- The WHEN condition lists the recorded columns by name, so a migration that adds a column to
-- audit_events must add it here too (recreate the trigger); a test fails until it does
-- (`rls::every_recorded_audit_column_is_guarded_by_the_seal_only_trigger`).
drop trigger audit_events_seal_only on audit_events;

create trigger audit_events_seal_only
    before update on audit_events
    for each row
    when (old.sealed_at is not null
          or new.sealed_at is null
          or (old.id, old.tenant_id, old.occurred_at, old.actor_user_id, old.actor_subject,
              old.action, old.resource_type, old.resource_id, old.outcome, old.request_id,
              old.client_ip, old.user_agent, old.changed_fields, old.emergency)
             is distinct from
             (new.id, new.tenant_id, new.occurred_at, new.actor_user_id, new.actor_subject,
              new.action, new.resource_type, new.resource_id, new.outcome, new.request_id,
              new.client_ip, new.user_agent, new.changed_fields, new.emergency))
    execute function audit_events_seal_only();
