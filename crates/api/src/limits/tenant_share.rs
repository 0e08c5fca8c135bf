//! Fair sharing of the database between tenants: each tenant may hold at most
//! TENANT_MAX_CONNECTIONS tenant transactions (pool connections) at once, and stream at most
//! TENANT_MAX_EXPORTS audit exports; beyond its share a request is refused at once with 429
//! RATE_002 and `Retry-After` (and audited by the kit), never queued, so one tenant's load
//! cannot take the connections every other tenant needs.
//!
//! Shares are counted per replica (like the concurrency cap): with N replicas a tenant may hold
//! N times its share of the database's connections, still at most half of each replica's pool
//! by default. The counts live in a map keyed by tenant that holds only tenants with work in
//! flight (an entry goes when its last share is returned), so it stays as small as the number
//! of requests in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use haven_db::ids::TenantId;

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

#[derive(Debug, Default)]
struct Held {
    connections: u32,
    exports: u32,
}

impl Held {
    fn count(&mut self, kind: Kind) -> &mut u32 {
        match kind {
            Kind::Connection => &mut self.connections,
            Kind::Export => &mut self.exports,
        }
    }
}

/// The per-tenant counts and caps of one process; cheap to clone.
#[derive(Debug, Clone)]
pub struct TenantShares(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    max_connections: u32,
    max_exports: u32,
    held: Mutex<HashMap<TenantId, Held>>,
}

impl TenantShares {
    pub fn new(max_connections: u32, max_exports: u32) -> Self {
        Self(Arc::new(Inner {
            max_connections: max_connections.max(1),
            max_exports: max_exports.max(1),
            held: Mutex::default(),
        }))
    }

    /// One share of `kind` for `tenant`, returned when the [`Share`] is dropped; 429 RATE_002
    /// when the tenant already holds all of its shares of that kind.
    pub fn take(&self, tenant: TenantId, kind: Kind) -> Result<Share, ApiError> {
        let max = match kind {
            Kind::Connection => self.0.max_connections,
            Kind::Export => self.0.max_exports,
        };
        // A poisoned lock only means another thread panicked between two integer updates.
        let mut held = self.0.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(tenant).or_default().count(kind);
        if *count >= max {
            drop(held);
            metrics::counter!("tenant_share_refused_total", "kind" => kind.label()).increment(1);
            tracing::warn!(
                error_code = codes::RATE_002.code,
                kind = kind.label(),
                "tenant over its share: refused"
            );
            return Err(ApiError::new(codes::RATE_002)
                .with_message(match kind {
                    Kind::Connection => {
                        "Your organisation has too many requests in progress; retry shortly"
                    }
                    Kind::Export => {
                        "An export of your organisation is already running; retry when it ends"
                    }
                })
                .with_retry_after(SHARE_RETRY_AFTER));
        }
        *count += 1;
        Ok(Share {
            shares: self.clone(),
            tenant,
            kind,
        })
    }

    /// Tenants with a share held now (what the map holds).
    pub fn tenants_holding(&self) -> usize {
        self.0
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Kind {
    const fn label(self) -> &'static str {
        match self {
            Self::Connection => "connection",
            Self::Export => "export",
        }
    }
}

/// A share held; returned on drop (also when the request is cancelled).
#[derive(Debug)]
pub struct Share {
    shares: TenantShares,
    tenant: TenantId,
    kind: Kind,
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut held = self
            .shares
            .0
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = held.get_mut(&self.tenant) {
            let count = entry.count(self.kind);
            *count = count.saturating_sub(1);
            if entry.connections == 0 && entry.exports == 0 {
                held.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantId {
        TenantId::from_uuid(uuid::Uuid::new_v4())
    }

    #[test]
    fn a_tenant_at_its_share_is_refused_while_another_tenant_is_not() {
        let shares = TenantShares::new(2, 1);
        let (busy, quiet) = (tenant(), tenant());
        let first = shares.take(busy, Kind::Connection).expect("first");
        let _second = shares.take(busy, Kind::Connection).expect("second");
        let refused = shares.take(busy, Kind::Connection).expect_err("third");
        assert_eq!(refused.code().code, "RATE_002");
        let response = axum::response::IntoResponse::into_response(refused);
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "1");
        assert!(
            shares.take(quiet, Kind::Connection).is_ok(),
            "others unaffected"
        );
        // Exports are counted apart from connections.
        let _export = shares.take(busy, Kind::Export).expect("export");
        assert!(shares.take(busy, Kind::Export).is_err());
        drop(first);
        assert!(
            shares.take(busy, Kind::Connection).is_ok(),
            "a share comes back"
        );
    }

    #[test]
    fn the_map_holds_only_tenants_with_work_in_flight() {
        let shares = TenantShares::new(3, 1);
        let held: Vec<Share> = (0..50)
            .map(|_| shares.take(tenant(), Kind::Connection).expect("share"))
            .collect();
        assert_eq!(shares.tenants_holding(), 50);
        drop(held);
        assert_eq!(shares.tenants_holding(), 0);
    }
}
