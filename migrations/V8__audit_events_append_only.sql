-- audit_events is append-only for everyone, the owner included. The one change allowed is the
-- seal: an unsealed row may gain its chain columns (seq, prev_hash, hash, sealed_at) once, with
-- every other column unchanged. A sealed row never changes again. Refusals use SQLSTATE HV001.
-- (A superuser can still disable these triggers; the hash chain is what exposes that.)

create function audit_events_refuse() returns trigger
    language plpgsql
    as $$
begin
    raise exception 'audit_events is append-only: % is not allowed', tg_op
        using errcode = 'HV001';
end
$$;

create function audit_events_seal_only() returns trigger
    language plpgsql
    as $$
declare
    chain constant text[] := array['seq', 'prev_hash', 'hash', 'sealed_at'];
begin
    if old.sealed_at is not null then
        raise exception 'audit event % is sealed and cannot change', old.id
            using errcode = 'HV001';
    end if;
    if new.sealed_at is null then
        raise exception 'audit event % may only be updated to seal it', old.id
            using errcode = 'HV001';
    end if;
    -- Comparing the rows minus the chain columns also covers columns added later.
    if (to_jsonb(old) - chain) is distinct from (to_jsonb(new) - chain) then
        raise exception 'sealing audit event % may not change its recorded fields', old.id
            using errcode = 'HV001';
    end if;
    return new;
end
$$;

create trigger audit_events_seal_only
    before update on audit_events
    for each row execute function audit_events_seal_only();

-- Statement level: refused even when no row matches.
create trigger audit_events_no_delete
    before delete on audit_events
    for each statement execute function audit_events_refuse();

create trigger audit_events_no_truncate
    before truncate on audit_events
    for each statement execute function audit_events_refuse();
