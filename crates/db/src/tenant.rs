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

use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Postgres, Transaction};

use crate::audit::AuditOutcome;
use crate::ids::TenantId;

/// The runtime role every tenant transaction switches to (created by migration V1).
pub const RUNTIME_ROLE: &str = "haven_app";

/// A transaction running as [`RUNTIME_ROLE`] with `app.tenant_id` set: every query through it
/// sees and writes only this tenant's rows. Query functions take `&mut PgConnection`; pass
/// `&mut tx` (it derefs) or `tx.as_mut()`.
#[derive(Debug)]
pub struct TenantTx<'c> {
    tx: Transaction<'c, Postgres>,
    tenant: TenantId,
    /// The audit events written through this transaction (action, outcome), counted in the
    /// metrics only once it commits: a rolled-back event was never written.
    audited: Vec<(String, AuditOutcome)>,
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
    /// Takes a connection from the pool and opens the tenant's transaction on it.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn begin(pool: &PgPool, tenant: TenantId) -> Result<Self, sqlx::Error> {
        // Cancel-safe since sqlx 0.9.1 (transact-rs/sqlx#4393): a request dropped mid-`BEGIN`
        // leaves no transaction on the pooled connection (tests/tests/e2e/rls.rs proves it).
        let tx = pool
            .begin_with(AssertSqlSafe(begin_statement(tenant)))
            .await?;
        Ok(Self::new(tx, tenant))
    }
}

impl<'c> TenantTx<'c> {
    fn new(tx: Transaction<'c, Postgres>, tenant: TenantId) -> Self {
        Self {
            tx,
            tenant,
            audited: Vec::new(),
        }
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
        Ok(Self::new(tx, tenant))
    }

    /// The tenant this transaction is scoped to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Notes an audit event written in this transaction (see [`crate::audit::record`]).
    pub(crate) fn audited(&mut self, action: &str, outcome: AuditOutcome) {
        self.audited.push((action.to_owned(), outcome));
    }

    /// Commits, then counts the audit events it wrote (`audit_events_written_total`).
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await?;
        crate::audit::count_written(&self.audited);
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
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
