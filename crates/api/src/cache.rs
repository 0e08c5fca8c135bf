//! Per-process caches of the identity lookups every request needs (tenant by external id, user
//! by subject): a small time-bounded cache.
//!
//! Per process: with several replicas each keeps its own, so a change (a tenant suspended) is
//! seen everywhere within one TTL. Bounded: when full it is cleared rather than grown.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use haven_db::ids::{TenantId, UserId};
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
}

/// Per-process lookups that would otherwise cost a query per request.
pub struct IdentityCaches {
    pub(crate) tenants: TtlCache<String, Tenant>,
    pub(crate) users: TtlCache<(TenantId, String), UserId>,
}

impl Default for IdentityCaches {
    fn default() -> Self {
        Self {
            // Suspending a tenant takes effect within this long on every replica.
            tenants: TtlCache::new(Duration::from_secs(10), 10_000),
            // last_seen_at is refreshed (at most once a minute) when an entry expires.
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
    }
}
