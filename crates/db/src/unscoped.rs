//! Owner maintenance transactions: the only path past tenant scoping, kept crate-private.
//!
//! The tables FORCE row-level security, so a non-superuser owner sees nothing either, except
//! through policies granted to the owner that require `app.unscoped = on`. This transaction sets
//! it (transaction-local, like the tenant in `TenantTx`). Its users are few and named to stand
//! out: `tenants::admin_*`, the audit sealer and verifier. A superuser owner bypasses RLS anyway;
//! the marker then documents intent and costs nothing.

use std::ops::{Deref, DerefMut};

use sqlx::{PgConnection, PgPool, Postgres, Transaction};

pub(crate) struct UnscopedTx {
    tx: Transaction<'static, Postgres>,
}

impl UnscopedTx {
    /// BEGIN and the marker in one round trip (a simple-protocol message with two statements).
    pub(crate) async fn begin(pool: &PgPool) -> Result<Self, sqlx::Error> {
        // Cancel-safe since sqlx 0.9.1 (transact-rs/sqlx#4393), as `TenantTx::begin`.
        let tx = pool
            .begin_with("begin; select set_config('app.unscoped', 'on', true)")
            .await?;
        Ok(Self { tx })
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl Deref for UnscopedTx {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}

impl DerefMut for UnscopedTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}
