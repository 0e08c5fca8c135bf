//! The end-to-end harness: real PostgreSQL, the real binary or the real `Application`.
#![forbid(unsafe_code)]

pub mod app;
pub mod binary;
pub mod db;
pub mod idp;
pub mod moto;
pub mod net;
pub mod node;
pub mod op;
pub mod redis;
pub mod world;

pub use app::{TestApp, spawn_app, spawn_app_with};
pub use binary::{HavenProcess, free_port, haven_binary};
pub use db::{PrivateCluster, TestDatabase};
pub use moto::Moto;
pub use net::{ClosingEndpoint, SilentEndpoint};
pub use redis::RedisServer;

/// Polls `check` until it returns true or `deadline` passes; tests wait on conditions, never
/// on fixed sleeps.
pub async fn eventually<F, Fut>(deadline: std::time::Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
