-- A list's audit event records the ids of the rows it returned, in order, so what a user saw can
-- be reconstructed (the accounting of disclosures). A page holds at most 100 rows, so the ids are
-- kept in full (16 bytes each, about 1.6 kB for a full page; the cost is measured in
-- docs/DATA_MODEL.md), never in a compact form. An empty page records an empty array; NULL for
-- every event that is not a list.
--
-- The append-only triggers (V15) cover every column, this one included: no UPDATE of an event.
-- The column is part of the hash chain's canonical form when it is not NULL (a trailing tagged
-- field, crates/db/src/audit_chain/canonical.rs), so events without it hash exactly as before.
alter table audit_events add column returned_ids uuid[]
    check (cardinality(returned_ids) <= 100);

grant insert (returned_ids) on audit_events to haven_app;
