//! Fair sharing of the database between tenants: each tenant may hold at most
//! TENANT_MAX_CONNECTIONS tenant transactions (pool connections) at once, and stream at most
//! TENANT_MAX_EXPORTS audit exports. A request beyond its tenant's connection share waits for
//! one of that tenant's own shares, up to DB_ACQUIRE_TIMEOUT_SECONDS and with at most
//! TENANT_MAX_CONNECTIONS of its requests waiting; past that it is refused with 429 RATE_002
//! and `Retry-After` (and audited by the kit). A waiting request holds no connection, so one
//! tenant's load waits on itself and cannot take the connections every other tenant needs,
//! while a burst from one tenant (a page firing its requests at once) is served, not refused.
//! Exports never wait: a second one is refused at once.
//!
//! Shares are counted per replica (like the concurrency cap): with N replicas a tenant may hold
//! N times its share of the database's connections, still at most half of each replica's pool
//! by default. The counts live in a map keyed by tenant that holds only tenants with work in
//! flight or waiting (an entry goes when its last share is returned), so it stays as small as
//! the number of requests in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use haven_db::ids::TenantId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ApiError, codes};

/// Seconds a refused caller is told to wait: shares turn over as fast as requests finish.
pub const SHARE_RETRY_AFTER: u64 = 1;

/// What a share is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A tenant transaction, i.e. a pooled connection held.
    Connection,
    /// A streamed audit export (long: it holds a connection share of its own as well).
    Export,
}

/// One tenant's shares of one kind: the permits, and how many of its requests wait for one.
#[derive(Debug)]
struct Shares {
    permits: Arc<Semaphore>,
    max: usize,
    waiting: usize,
}

impl Shares {
    fn new(max: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max)),
            max,
            waiting: 0,
        }
    }

    fn idle(&self) -> bool {
        self.waiting == 0 && self.permits.available_permits() == self.max
    }
}

#[derive(Debug)]
struct Entry {
    connections: Shares,
    exports: Shares,
}

impl Entry {
    fn of(&mut self, kind: Kind) -> &mut Shares {
        match kind {
            Kind::Connection => &mut self.connections,
            Kind::Export => &mut self.exports,
        }
    }

    fn idle(&self) -> bool {
        self.connections.idle() && self.exports.idle()
    }
}

/// The per-tenant counts and caps of one process; cheap to clone.
#[derive(Debug, Clone)]
pub struct TenantShares(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    max_connections: usize,
    max_exports: usize,
    /// How long a request over its connection share waits for one.
    wait: Duration,
    held: Mutex<HashMap<TenantId, Entry>>,
}

impl TenantShares {
    pub fn new(max_connections: u32, max_exports: u32, wait: Duration) -> Self {
        Self(Arc::new(Inner {
            max_connections: max_connections.max(1) as usize,
            max_exports: max_exports.max(1) as usize,
            wait,
            held: Mutex::default(),
        }))
    }

    /// One share of `kind` for `tenant`, returned when the [`Share`] is dropped. A connection
    /// share waits (see the module) for one of the tenant's own; 429 RATE_002 when none comes
    /// or too many of the tenant's requests wait already, and at once for a second export.
    pub async fn take(&self, tenant: TenantId, kind: Kind) -> Result<Share, ApiError> {
        let (permits, _waiting) = {
            let mut held = self.lock();
            let shares = held.entry(tenant).or_insert_with(|| self.entry()).of(kind);
            if let Ok(permit) = shares.permits.clone().try_acquire_owned() {
                return Ok(self.share(tenant, permit));
            }
            if kind == Kind::Export || shares.waiting >= shares.max {
                drop(held);
                return Err(refuse(kind));
            }
            shares.waiting += 1;
            let waiting = Waiting {
                shares: self,
                tenant,
                kind,
            };
            (shares.permits.clone(), waiting)
        };
        match tokio::time::timeout(self.0.wait, permits.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(self.share(tenant, permit)),
            // Timed out (the semaphore is never closed).
            _ => Err(refuse(kind)),
        }
    }

    /// Tenants with a share held or awaited now (what the map holds).
    pub fn tenants_holding(&self) -> usize {
        self.lock().len()
    }

    fn entry(&self) -> Entry {
        Entry {
            connections: Shares::new(self.0.max_connections),
            exports: Shares::new(self.0.max_exports),
        }
    }

    fn share(&self, tenant: TenantId, permit: OwnedSemaphorePermit) -> Share {
        Share {
            shares: self.clone(),
            tenant,
            permit: Some(permit),
        }
    }

    /// Drops `tenant`'s entry once nothing is held or awaited in it.
    fn forget_if_idle(held: &mut HashMap<TenantId, Entry>, tenant: TenantId) {
        if held.get(&tenant).is_some_and(Entry::idle) {
            held.remove(&tenant);
        }
    }

    // A poisoned lock only means another thread panicked between two counter updates.
    fn lock(&self) -> MutexGuard<'_, HashMap<TenantId, Entry>> {
        self.0.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn refuse(kind: Kind) -> ApiError {
    metrics::counter!("tenant_share_refused_total", "kind" => kind.label()).increment(1);
    tracing::warn!(
        error_code = codes::RATE_002.code,
        kind = kind.label(),
        "tenant over its share: refused"
    );
    ApiError::new(codes::RATE_002)
        .with_message(match kind {
            Kind::Connection => {
                "Your organisation has too many requests in progress; retry shortly"
            }
            Kind::Export => "An export of your organisation is already running; retry when it ends",
        })
        .with_retry_after(SHARE_RETRY_AFTER)
}

impl Kind {
    const fn label(self) -> &'static str {
        match self {
            Self::Connection => "connection",
            Self::Export => "export",
        }
    }
}

/// A share held; returned on drop (also when the request is cancelled), straight to a request
/// of the same tenant waiting for one if there is any.
#[derive(Debug)]
pub struct Share {
    shares: TenantShares,
    tenant: TenantId,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut held = self.shares.lock();
        drop(self.permit.take());
        TenantShares::forget_if_idle(&mut held, self.tenant);
    }
}

/// A request counted as waiting for a share until it gets one, gives up, or is cancelled.
struct Waiting<'a> {
    shares: &'a TenantShares,
    tenant: TenantId,
    kind: Kind,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut held = self.shares.lock();
        if let Some(entry) = held.get_mut(&self.tenant) {
            entry.of(self.kind).waiting -= 1;
        }
        TenantShares::forget_if_idle(&mut held, self.tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::from_uuid(uuid::Uuid::new_v4())
    }

    const BRIEF: Duration = Duration::from_millis(50);

    #[tokio::test]
    async fn a_tenant_at_its_share_is_refused_after_the_wait_while_another_tenant_is_not() {
        let shares = TenantShares::new(2, 1, BRIEF);
        let (busy, quiet) = (tenant(), tenant());
        let first = shares.take(busy, Kind::Connection).await.expect("first");
        let _second = shares.take(busy, Kind::Connection).await.expect("second");
        let refused = shares
            .take(busy, Kind::Connection)
            .await
            .expect_err("third");
        assert_eq!(refused.code().code, "RATE_002");
        let response = axum::response::IntoResponse::into_response(refused);
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "1");
        assert!(
            shares.take(quiet, Kind::Connection).await.is_ok(),
            "others unaffected"
        );
        // Exports are counted apart from connections.
        let _export = shares.take(busy, Kind::Export).await.expect("export");
        assert!(shares.take(busy, Kind::Export).await.is_err());
        drop(first);
        assert!(
            shares.take(busy, Kind::Connection).await.is_ok(),
            "a share comes back"
        );
    }

    #[tokio::test]
    async fn a_burst_over_the_share_waits_for_the_tenants_own_shares_and_is_served() {
        let shares = TenantShares::new(2, 1, Duration::from_secs(30));
        let busy = tenant();
        let held: Vec<Share> = vec![
            shares.take(busy, Kind::Connection).await.unwrap(),
            shares.take(busy, Kind::Connection).await.unwrap(),
        ];
        // Two may wait (as many as the share); a third is refused at once.
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let shares = shares.clone();
                tokio::spawn(async move { shares.take(busy, Kind::Connection).await })
            })
            .collect();
        while shares.lock()[&busy].connections.waiting < 2 {
            tokio::task::yield_now().await;
        }
        let at_once =
            tokio::time::timeout(Duration::from_secs(5), shares.take(busy, Kind::Connection))
                .await
                .expect("a request past the waiting cap is refused without waiting");
        assert!(at_once.is_err());
        drop(held);
        for waiter in waiters {
            assert!(waiter.await.unwrap().is_ok(), "served by a returned share");
        }
        assert_eq!(shares.tenants_holding(), 0);
    }

    #[tokio::test]
    async fn a_cancelled_or_timed_out_waiter_leaves_nothing_behind() {
        let shares = TenantShares::new(1, 1, Duration::from_secs(30));
        let busy = tenant();
        let held = shares.take(busy, Kind::Connection).await.unwrap();
        let waiter = {
            let shares = shares.clone();
            tokio::spawn(async move { shares.take(busy, Kind::Connection).await })
        };
        while shares.lock()[&busy].connections.waiting < 1 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(
            shares.lock()[&busy].connections.waiting,
            0,
            "the cancelled one"
        );
        let brief = TenantShares::new(1, 1, BRIEF);
        let held_too = brief.take(busy, Kind::Connection).await.unwrap();
        assert!(
            brief.take(busy, Kind::Connection).await.is_err(),
            "timed out"
        );
        assert_eq!(
            brief.lock()[&busy].connections.waiting,
            0,
            "the timed-out one"
        );
        drop((held, held_too));
        assert_eq!(shares.tenants_holding(), 0);
        assert_eq!(brief.tenants_holding(), 0);
        assert_eq!(shares.tenants_holding(), 0);
    }

    #[tokio::test]
    async fn the_map_holds_only_tenants_with_work_in_flight() {
        let shares = TenantShares::new(3, 1, BRIEF);
        let mut held = Vec::new();
        for _ in 0..50 {
            held.push(
                shares
                    .take(tenant(), Kind::Connection)
                    .await
                    .expect("share"),
            );
        }
        assert_eq!(shares.tenants_holding(), 50);
        drop(held);
        assert_eq!(shares.tenants_holding(), 0);
    }
}
