-- A refused or failed access records the error code the caller was answered with (VAL_001,
-- IDEM_001, RES_001, AUTH_009, RATE_002, PHI_002, ...), so the trail says why, not only that, an
-- attempt was refused. NULL for a success.
--
-- The append-only triggers (V15) cover every column, this one included. The column is part of
-- the hash chain's canonical form when it is not NULL (a trailing tagged field, 0x03, after
-- returned_ids), so events without it hash exactly as before.
alter table audit_events add column error_code text
    check (error_code ~ '^[A-Z][A-Z0-9]{0,15}_[0-9]{3}$');

grant insert (error_code) on audit_events to haven_app;
