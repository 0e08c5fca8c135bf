//! Routes that exist only to test the service itself: a slow handler and a panicking one.
//! Mounted only when ENABLE_TEST_ROUTES=true, which configuration refuses in production.

use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::routing::get;
use serde::Deserialize;

use crate::state::AppState;

#[derive(Deserialize)]
struct Sleep {
    ms: u64,
}

async fn sleep(Query(Sleep { ms }): Query<Sleep>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
    "slept"
}

async fn panic() -> &'static str {
    panic!("deliberate panic from the test route")
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_test/sleep", get(sleep))
        .route("/_test/panic", get(panic))
}
