//! A small time-bounded cache for per-request lookups (tenant by external id, user by subject).
//!
//! Per process: with several replicas each keeps its own. A change (a tenant suspended) is
//! announced with NOTIFY and dropped everywhere at once (`crate::invalidation`); the TTL bounds
//! staleness when that listener is down. Bounded: when full it is cleared rather than grown.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;
use std::time::{Duration, Instant};

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
