//! Routes that exist only to test the service itself: a slow handler, a panicking one and one
//! that holds a database connection.
//! Mounted only when ENABLE_TEST_ROUTES=true, which configuration refuses in production.

use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
struct Sleep {
    ms: u64,
}

async fn sleep(Query(Sleep { ms }): Query<Sleep>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
    "slept"
}

/// Holds one pooled connection for `ms` (pg_sleep), to exhaust a small pool: another request
/// then waits DB_ACQUIRE_TIMEOUT_SECONDS and gets 503 SYS_001.
async fn hold_db(
    State(state): State<AppState>,
    Query(Sleep { ms }): Query<Sleep>,
) -> Result<&'static str, ApiError> {
    let seconds = ms.min(60_000) as f64 / 1000.0;
    sqlx::query("select pg_sleep($1)")
        .bind(seconds)
        .execute(&state.pool)
        .await?;
    Ok("held")
}

async fn panic() -> &'static str {
    panic!("deliberate panic from the test route")
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_test/sleep", get(sleep))
        .route("/_test/panic", get(panic))
        .route("/_test/hold-db", get(hold_db))
}
