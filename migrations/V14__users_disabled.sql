-- User lifecycle: an administrator (or `haven users disable`) can disable a user of a tenant.
-- A disabled user's requests are refused with 403 USER_001 on every replica within a second
-- (the change is announced with NOTIFY, see crates/api/src/invalidation.rs); enabling clears it.
-- Unlike `deleted_at` (removal), the row stays listed and the user can be enabled again.
alter table users add column disabled_at timestamptz;
