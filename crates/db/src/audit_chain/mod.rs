//! The tamper-evident audit chain: sealing events into per-tenant hash chains, and verifying them.
//!
//! Each tenant's events form a chain: position `n` has hash
//! `sha256(domain || hash(n - 1) || canonical(event, n))` (32 zero bytes before position 1). Events
//! are inserted by requests and never updated; the sealer appends one row per tenant per batch to
//! `audit_seals` with the batch's event ids and hashes in order, continuing the previous seal.
//! Changing, removing, inserting or reordering a sealed event breaks the chain at that event,
//! and the last seal lists the chain's last event, so cutting events off the end shows. Events
//! sealed before V15 carry their chain columns themselves and are covered by one legacy seal.
//! Sealing happens off the request path (`spawn_sealer`, every second or so), so requests only
//! insert and never wait on each other for the chain.

mod backlog;
mod canonical;
mod head;
mod seal;
mod verify;
mod walk;

pub use backlog::{Backlog, SEAL_LAG_METRIC, UNSEALED_METRIC, backlog};
pub use canonical::GENESIS_HASH;
pub use seal::seal_pending;
pub use verify::{
    BrokenLink, LinkProblem, TenantVerification, VerifyOptions, VerifyReport, check_tenant, verify,
    verify_tenant, verify_with,
};

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// Events sealed per tenant transaction (one `audit_seals` row).
pub const SEAL_BATCH: usize = 1000;

/// Runs [`seal_pending`] every `every` until `shutdown` turns true (or its sender is dropped),
/// then once more, so events recorded just before shutdown do not wait for another replica.
/// Each round sets the backlog gauges ([`UNSEALED_METRIC`], [`SEAL_LAG_METRIC`]) to what it
/// found waiting when it started.
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
    match seal::seal_round(pool, SEAL_BATCH).await {
        Ok((sealed, backlog)) => {
            backlog::report(backlog);
            if sealed > 0 {
                tracing::debug!(sealed, "audit events sealed");
                on_sealed(sealed);
            }
        }
        Err(error) => tracing::warn!(error = %error, "sealing audit events failed; will retry"),
    }
}
