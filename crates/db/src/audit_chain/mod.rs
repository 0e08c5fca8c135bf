//! The tamper-evident audit chain: sealing events into per-tenant hash chains, and verifying them.
//!
//! Each tenant's sealed events form a chain: event `seq = n` stores `prev_hash` = the hash of
//! event `n - 1` (32 zero bytes for `n = 1`) and `hash` = sha256 over `prev_hash` and the event's
//! canonical encoding (`canonical`). Changing, removing or reordering a sealed event breaks the
//! chain at that point, and `audit_chain_heads` (last seq and hash per tenant) exposes events cut
//! off the end. Sealing happens off the request path (`spawn_sealer`, every second or so), so
//! requests only insert and never wait on each other for the chain.

mod canonical;
mod seal;
mod verify;

pub use canonical::GENESIS_HASH;
pub use seal::seal_pending;
pub use verify::{
    BrokenLink, LinkProblem, TenantVerification, VerifyReport, verify, verify_tenant,
};

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// Events sealed per tenant transaction.
pub const SEAL_BATCH: usize = 500;

/// Runs [`seal_pending`] every `every` until `shutdown` turns true (or its sender is dropped),
/// then once more, so events recorded just before shutdown do not wait for another replica.
/// Every replica may run one: the sealer is safe to run concurrently. Errors (the database
/// being away, say) are logged and retried on the next tick. `on_sealed` hears how many events
/// each round sealed (every event is sealed exactly once, by one replica), e.g. for a metric.
pub fn spawn_sealer(
    pool: PgPool,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
    on_sealed: fn(usize),
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if *shutdown.borrow_and_update() {
                break;
            }
            tokio::select! {
                _ = ticker.tick() => seal_logged(&pool, on_sealed).await,
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        seal_logged(&pool, on_sealed).await;
    })
}

async fn seal_logged(pool: &PgPool, on_sealed: fn(usize)) {
    match seal_pending(pool, SEAL_BATCH).await {
        Ok(0) => {}
        Ok(sealed) => {
            tracing::debug!(sealed, "audit events sealed");
            on_sealed(sealed);
        }
        Err(error) => tracing::warn!(error = %error, "sealing audit events failed; will retry"),
    }
}
