-- Break-glass (emergency) access: every audited action of a principal holding the break_glass
-- role is flagged, so reviewers can list emergency use. The flag is part of the hash chain's
-- canonical encoding, and the append-only trigger compares whole rows, so it cannot be changed
-- after the fact.
alter table audit_events add column emergency boolean not null default false;

grant insert (emergency) on audit_events to haven_app;

create index audit_events_tenant_emergency_idx
    on audit_events (tenant_id, occurred_at desc, id desc)
    where emergency;
