//! `TenantTx`: the tenant-scoped transaction, the only way request code reaches tenant tables.
//!
//! It opens a transaction and, in the same round trip, switches to the runtime role and sets the
//! tenant for that transaction only:
//!
//! ```sql
//! begin; set local role haven_app; select set_config('app.tenant_id', '<uuid>', true)
//! ```
//!
//! The role switch and the tenant are their own statements, before any query: a statement checks
//! permissions for the role in force when it started, so folding the set-up into the query
//! itself (a CTE calling `set_config`) would run that query as the connecting user and bypass
//! every policy. `haven_app` is NOSUPERUSER, NOBYPASSRLS and owns nothing, so row-level security
//! applies even when the pool connects as a superuser. Both settings are transaction-local:
//! COMMIT, ROLLBACK or a dropped handle (sqlx rolls back before the connection is reused) return
//! the connection to the pool with its own role and no tenant.

use std::ops::{Deref, DerefMut};

use sqlx::postgres::PgRow;
use sqlx::{
    AssertSqlSafe, Connection, FromRow, PgConnection, PgPool, Postgres, QueryBuilder, Transaction,
};

use crate::audit_event::{self, Access, Actor, AuditOutcome, GrantSql, NewAuditEvent};
use crate::ids::{AuditEventId, TenantId};

/// The runtime role every tenant transaction switches to (created by migration V1).
pub const RUNTIME_ROLE: &str = "haven_app";

/// A transaction running as [`RUNTIME_ROLE`] with `app.tenant_id` set: every query through it
/// sees and writes only this tenant's rows. Query functions on tenant tables take
/// `&mut TenantTx` and read the tenant from it:
///
/// ```no_run
/// # async fn f(tx: &mut haven_db::tenant::TenantTx<'_>, id: haven_db::ids::DocumentId) {
/// let _ = haven_db::documents::soft_delete(tx, id).await;
/// # }
/// ```
///
/// so a plain connection cannot reach them (this is checked by `cargo test --doc`):
///
/// ```compile_fail
/// # async fn f(conn: &mut sqlx::PgConnection, id: haven_db::ids::DocumentId) {
/// // A pool connection is not a tenant transaction: this does not compile.
/// let _ = haven_db::documents::soft_delete(conn, id).await;
/// # }
/// ```
///
/// It also carries the audit trail of the request: [`TenantTx::audit`] queues an event, and the
/// queued events are written by [`TenantTx::commit`] (a rollback or a dropped handle writes none,
/// like the change they describe), or by an audited read in the read's own statement.
#[derive(Debug)]
pub struct TenantTx<'c> {
    tx: Transaction<'c, Postgres>,
    tenant: TenantId,
    actor: Actor,
    /// Queued events, written at commit.
    queued: Vec<Access>,
    /// Events written through this transaction (action, outcome), counted in the metrics only
    /// once it commits: a rolled-back event was never written.
    written: Vec<(String, AuditOutcome)>,
    /// What the caller keeps until the transaction ends (its tenant's share of the pool).
    held: Option<Held>,
}

/// A guard a [`TenantTx`] keeps until it commits, rolls back or is dropped.
struct Held {
    _guard: Box<dyn Send + Sync>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Held")
    }
}

/// `BEGIN` plus the tenant set-up as one simple-protocol message. The only interpolated value is
/// a `Uuid` rendered by the uuid crate (hex digits and hyphens), so nothing here comes from a
/// client as text.
fn begin_statement(tenant: TenantId) -> String {
    format!(
        "begin; set local role {RUNTIME_ROLE}; select set_config('app.tenant_id', '{}', true)",
        tenant.as_uuid().hyphenated()
    )
}

impl TenantTx<'static> {
    /// Takes a connection from the pool and opens the tenant's transaction on it; its events
    /// have no actor.
    pub async fn begin(pool: &PgPool, tenant: TenantId) -> Result<Self, sqlx::Error> {
        Self::begin_as(pool, tenant, Actor::default()).await
    }

    /// [`TenantTx::begin`] for a request: every event it writes names `actor`.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn begin_as(
        pool: &PgPool,
        tenant: TenantId,
        actor: Actor,
    ) -> Result<Self, sqlx::Error> {
        // Cancel-safe since sqlx 0.9.1 (transact-rs/sqlx#4393): a request dropped mid-`BEGIN`
        // leaves no transaction on the pooled connection (tests/tests/e2e/rls.rs proves it).
        // Boxed: sqlx's `begin_with` future is kilobytes; inline it would be moved again by
        // every future that awaits this one, up to the handler's (docs/PERFORMANCE.md, "Large
        // futures"). Made inside the box (the `async` block), so it is not moved into it.
        let begin = async move {
            pool.begin_with(AssertSqlSafe(begin_statement(tenant)))
                .await
        };
        let tx = Box::pin(begin).await?;
        Ok(Self::new(tx, tenant, actor))
    }
}

impl<'c> TenantTx<'c> {
    fn new(tx: Transaction<'c, Postgres>, tenant: TenantId, actor: Actor) -> Self {
        Self {
            tx,
            tenant,
            actor,
            queued: Vec::new(),
            written: Vec::new(),
            held: None,
        }
    }

    /// Keeps `guard` until this transaction ends, whichever way (the caller's share of the pool
    /// is returned exactly when the connection is).
    pub fn hold(&mut self, guard: impl Send + Sync + 'static) {
        self.held = Some(Held {
            _guard: Box::new(guard),
        });
    }

    /// Opens the tenant's transaction on a connection the caller holds (not in a transaction).
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn begin_on(
        conn: &'c mut PgConnection,
        tenant: TenantId,
    ) -> Result<Self, sqlx::Error> {
        let tx = conn
            .begin_with(AssertSqlSafe(begin_statement(tenant)))
            .await?;
        Ok(Self::new(tx, tenant, Actor::default()))
    }

    /// The tenant this transaction is scoped to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Queues `access` by this transaction's actor, to be written when the transaction commits.
    pub fn audit(&mut self, access: Access) {
        self.queued.push(access);
    }

    /// The queued events turn into refusals (`denied`) answered with `error_code` (`RES_001`:
    /// the thing asked for is missing or another tenant's), and nothing was changed.
    pub fn deny(&mut self, error_code: &'static str) {
        self.set_outcome(AuditOutcome::Denied, Some(error_code));
    }

    /// The queued events record `outcome` (`error`: the attempt failed on a dependency) and the
    /// error code the caller is answered with, if any.
    pub fn set_outcome(&mut self, outcome: AuditOutcome, error_code: Option<&'static str>) {
        for access in &mut self.queued {
            access.outcome = outcome;
            access.error_code = error_code;
        }
    }

    /// The queued events name `resource_id` (once a create knows its new id).
    pub fn audit_on(&mut self, resource_id: impl std::fmt::Display) {
        for access in &mut self.queued {
            access.resource_id = Some(resource_id.to_string());
        }
    }

    /// The queued events name the fields a change touched (names, never values).
    pub fn audit_changed(&mut self, fields: &[&'static str]) {
        for access in &mut self.queued {
            access.changed_fields = Some(fields.to_vec());
        }
    }

    /// The queued events name the rows a list returned (their ids, in order).
    pub fn audit_returned(&mut self, ids: impl IntoIterator<Item = uuid::Uuid>) {
        let ids: Vec<uuid::Uuid> = ids.into_iter().collect();
        for access in &mut self.queued {
            access.returned_ids = Some(ids.clone());
        }
    }

    /// The queued events record `action` instead (a replayed create is a read of the first).
    pub fn audit_as(&mut self, action: &'static str) {
        for access in &mut self.queued {
            access.action = action;
        }
    }

    /// Writes an event now, in this transaction (it commits or rolls back with it). The database
    /// assigns the id and the time (the transaction's start). `event.tenant_id` must be this
    /// transaction's tenant: the policy refuses anything else.
    #[tracing::instrument(skip_all, fields(tenant_id = %event.tenant_id, action = event.action))]
    pub async fn record(&mut self, event: &NewAuditEvent<'_>) -> Result<AuditEventId, sqlx::Error> {
        let mut query = QueryBuilder::new("");
        audit_event::push_insert(&mut query, std::slice::from_ref(event), None);
        query.push(" returning id");
        let id = query.build_query_scalar().fetch_one(&mut *self.tx).await?;
        self.written.push((event.action.to_owned(), event.outcome));
        Ok(id)
    }

    /// Runs the one-row `select` that `push_select` appends and writes the queued events in the
    /// same statement (one round trip fewer on the hottest path). When no row comes back the
    /// events are written as `denied`: a missing row and another tenant's look alike.
    pub async fn fetch_optional_audited<T>(
        &mut self,
        push_select: impl FnOnce(&mut QueryBuilder<Postgres>),
    ) -> Result<Option<T>, sqlx::Error>
    where
        T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        self.fetch_optional_audited_if(AccessGrant::ROW_FOUND, push_select)
            .await
    }

    /// [`TenantTx::fetch_optional_audited`] where a row found is not enough: the events keep
    /// their outcome only when `grant` holds (a document found but not ready to download is a
    /// refusal too), and are written as `denied` otherwise.
    pub async fn fetch_optional_audited_if<T>(
        &mut self,
        grant: AccessGrant<T>,
        push_select: impl FnOnce(&mut QueryBuilder<Postgres>),
    ) -> Result<Option<T>, sqlx::Error>
    where
        T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let queued = std::mem::take(&mut self.queued);
        let granted = GrantSql {
            granted: grant.sql,
            refused_code: grant.refused_code,
        };
        let mut query = self.audited_select(&queued, granted, push_select);
        let found: Option<T> = query.build_query_as().fetch_optional(&mut *self.tx).await?;
        self.note_audited(queued, found.as_ref().is_some_and(grant.holds));
        Ok(found)
    }

    /// [`TenantTx::fetch_optional_audited`] returning the row as selected, for a caller that
    /// reads its columns by name (the resource kit, `crate::resource`).
    pub async fn fetch_optional_audited_row(
        &mut self,
        push_select: impl FnOnce(&mut QueryBuilder<Postgres>),
    ) -> Result<Option<PgRow>, sqlx::Error> {
        let queued = std::mem::take(&mut self.queued);
        let grant = AccessGrant::<()>::ROW_FOUND;
        let granted = GrantSql {
            granted: grant.sql,
            refused_code: grant.refused_code,
        };
        let mut query = self.audited_select(&queued, granted, push_select);
        let found = query.build().fetch_optional(&mut *self.tx).await?;
        self.note_audited(queued, found.is_some());
        Ok(found)
    }

    /// The select `push_select` appends, writing the `queued` events in the same statement
    /// (`grant`: the SQL condition under which they keep their outcome, and the refusal's code
    /// otherwise).
    fn audited_select(
        &self,
        queued: &[Access],
        grant: GrantSql,
        push_select: impl FnOnce(&mut QueryBuilder<Postgres>),
    ) -> QueryBuilder<Postgres> {
        let mut query = QueryBuilder::new(if queued.is_empty() {
            ""
        } else {
            "with found as ("
        });
        push_select(&mut query);
        if !queued.is_empty() {
            // A data-modifying WITH runs whether or not the outer query reads it.
            query.push("), recorded as (");
            audit_event::push_insert(&mut query, &self.events(queued), Some(grant));
            query.push(") select * from found");
        }
        query
    }

    /// Counts the events an audited select wrote: as queued when `granted`, else `denied`.
    fn note_audited(&mut self, queued: Vec<Access>, granted: bool) {
        for access in queued {
            let outcome = if granted {
                access.outcome
            } else {
                AuditOutcome::Denied
            };
            self.written.push((access.action.to_owned(), outcome));
        }
    }

    fn events<'a>(&'a self, queued: &'a [Access]) -> Vec<NewAuditEvent<'a>> {
        queued
            .iter()
            .map(|access| access.event(self.tenant, &self.actor))
            .collect()
    }

    /// Writes the queued events, commits, then counts the events written
    /// (`audit_events_written_total`).
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        let queued = std::mem::take(&mut self.queued);
        if !queued.is_empty() {
            let mut query = QueryBuilder::new("");
            audit_event::push_insert(&mut query, &self.events(&queued), None);
            query.build().execute(&mut *self.tx).await?;
            self.written
                .extend(queued.iter().map(|a| (a.action.to_owned(), a.outcome)));
        }
        self.tx.commit().await?;
        audit_event::count_written(&self.written);
        Ok(())
    }

    /// Rolls back: neither the changes nor the queued events are written.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

/// When an audited read grants the access: `sql`, a boolean over the CTE `found` (the select),
/// decides the written outcome; `holds` says the same of the row read back (for the metrics).
/// A refusal records `refused_code` when a row was found but `sql` does not hold, and
/// [`audit_event::NOT_FOUND_CODE`] when no row was found.
pub struct AccessGrant<T> {
    pub sql: &'static str,
    pub holds: fn(&T) -> bool,
    pub refused_code: &'static str,
}

impl<T> AccessGrant<T> {
    /// Any row found grants the access.
    pub const ROW_FOUND: Self = Self {
        sql: "exists (select 1 from found)",
        holds: |_| true,
        refused_code: audit_event::NOT_FOUND_CODE,
    };
}

impl AsMut<PgConnection> for TenantTx<'_> {
    fn as_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

impl Deref for TenantTx<'_> {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for TenantTx<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_begin_statement_switches_role_before_setting_the_tenant() {
        let tenant = TenantId::from_uuid(uuid::Uuid::nil());
        assert_eq!(
            begin_statement(tenant),
            "begin; set local role haven_app; \
             select set_config('app.tenant_id', '00000000-0000-0000-0000-000000000000', true)"
        );
    }
}
