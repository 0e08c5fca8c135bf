//! Opening a pooled transaction so that a cancelled request cannot poison the pool.
//!
//! sqlx 0.9.0's `Pool::begin_with` is not cancel-safe on PostgreSQL (transact-rs/sqlx#4393,
//! fixed upstream by #4394, not yet released): if the future is dropped while the `BEGIN`
//! round trip is in flight, nothing rolls the transaction back and the connection goes back to
//! the pool inside it. Here that happens whenever a client disconnects or a request times out at
//! that moment, and the connection then runs the next borrower's statements in the leftover
//! transaction, as `haven_app` with a stale tenant, until it errors and every later statement on
//! it fails with 25P02 (found by `scripts/bench`: hundreds of 500s after wrk stopped).
//!
//! So the `BEGIN` runs in a task of its own, which finishes even when the caller is gone: the
//! transaction it opened is then dropped there, which rolls it back before the connection
//! returns to the pool. Remove this once a sqlx release carries the fix.

use sqlx::{PgPool, Postgres, SqlSafeStr, Transaction};

pub(crate) async fn begin_detached(
    pool: &PgPool,
    statement: impl SqlSafeStr + Send + 'static,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin_with(statement).await })
        .await
        .map_err(|error| {
            sqlx::Error::Protocol(format!("opening the transaction failed: {error}"))
        })?
}
