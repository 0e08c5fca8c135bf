//! Per-process caches of the identity lookups every request needs (tenant by external id, user
//! by subject): a small time-bounded cache.
//!
//! Per process: with several replicas each keeps its own. A change (a tenant suspended) is
//! announced with NOTIFY and dropped everywhere at once (`crate::invalidation`); the TTL bounds
//! staleness when that listener is down. Bounded: when full it is cleared rather than grown.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use haven_db::ids::{TenantId, UserId};
use haven_db::invalidation::Invalidation;
use haven_db::tenants::Tenant;

pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: RwLock<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.read().ok()?;
        let (at, value) = entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    pub fn insert(&self, key: K, value: V) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= self.capacity {
                entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
                if entries.len() >= self.capacity {
                    entries.clear();
                }
            }
            entries.insert(key, (Instant::now(), value));
        }
    }

    /// Drops every entry for which `drop(key, value)` holds.
    pub fn remove_where(&self, drop: impl Fn(&K, &V) -> bool) {
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|key, (_, value)| !drop(key, value));
        }
    }

    /// Drops everything (after the invalidation listener lost messages).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}

/// Per-process lookups that would otherwise cost a query per request.
pub struct IdentityCaches {
    pub(crate) tenants: TtlCache<String, Tenant>,
    pub(crate) users: TtlCache<(TenantId, String), UserId>,
}

impl IdentityCaches {
    /// Drops what `event` names (sent by another replica or an operator command).
    pub fn invalidate(&self, event: &Invalidation) {
        match event {
            Invalidation::TenantStatus { tenant_external_id } => self
                .tenants
                .remove_where(|external_id, _| external_id == tenant_external_id),
            Invalidation::UserStatus { tenant_id, subject } => self
                .users
                .remove_where(|(tenant, sub), _| tenant == tenant_id && sub == subject),
            Invalidation::KeyShredded { tenant_id } => {
                self.tenants
                    .remove_where(|_, tenant| tenant.id == *tenant_id);
                self.users
                    .remove_where(|(tenant, _), _| tenant == tenant_id);
            }
            Invalidation::SigningKeys | Invalidation::KeyRotated { .. } => {}
        }
    }

    /// Drops everything: messages may have been missed while the listener was down.
    pub fn clear(&self) {
        self.tenants.clear();
        self.users.clear();
    }
}

impl Default for IdentityCaches {
    fn default() -> Self {
        Self {
            // Suspension is announced to every replica at once (NOTIFY); this TTL bounds it only
            // while a replica's invalidation listener is down.
            tenants: TtlCache::new(Duration::from_secs(10), 10_000),
            // last_seen_at is refreshed (at most once a minute) when an entry expires; disabling
            // is announced at once, and this TTL bounds it while the listener is down.
            users: TtlCache::new(Duration::from_secs(60), 100_000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_cache_stays_bounded() {
        let cache = TtlCache::new(Duration::from_millis(50), 3);
        cache.insert(1, "a");
        assert_eq!(cache.get(&1), Some("a"));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(&1), None);
        for i in 0..10 {
            cache.insert(i, "x");
        }
        assert!(cache.entries.read().unwrap().len() <= 3);
        cache.clear();
        cache.insert(1, "a");
        cache.insert(2, "b");
        cache.remove_where(|k, _| *k == 1);
        assert_eq!((cache.get(&1), cache.get(&2)), (None, Some("b")));
        cache.clear();
        assert_eq!(cache.get(&2), None);
    }
}
