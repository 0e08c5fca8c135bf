//! The per-process cache of unwrapped tenant keys: bounded, with a TTL, single-flight loads.
//!
//! Evicting an entry drops its `TenantKeys`; the plaintext keys are zeroized as soon as no
//! in-flight operation still holds a clone of that handle. Several replicas each hold their own
//! cache: rotation and shredding notify them all (`haven_db::invalidation`), and the TTL bounds how
//! long a replica that missed a notification keeps a stale key set.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use haven_db::ids::TenantId;
use tokio::time::Instant;

use crate::key::TenantKeys;

/// Loads of different tenants proceed in parallel unless they share one of these stripes.
const LOAD_STRIPES: usize = 64;

struct Entry {
    keys: TenantKeys,
    loaded_at: Instant,
}

pub(crate) struct KeyCache {
    ttl: Duration,
    max_tenants: usize,
    entries: Mutex<HashMap<TenantId, Entry>>,
    loads: Vec<tokio::sync::Mutex<()>>,
}

impl KeyCache {
    pub(crate) fn new(ttl: Duration, max_tenants: usize) -> Self {
        Self {
            ttl,
            max_tenants: max_tenants.max(1),
            entries: Mutex::new(HashMap::new()),
            loads: (0..LOAD_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Entry>> {
        // A panic while holding this lock leaves a consistent map (every operation is a single
        // insert or remove), so a poisoned lock is still safe to use.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The tenant's keys when cached and younger than the TTL; an expired entry is dropped.
    pub(crate) fn get(&self, tenant: TenantId) -> Option<TenantKeys> {
        let mut entries = self.entries();
        match entries.get(&tenant) {
            Some(entry) if entry.loaded_at.elapsed() < self.ttl => Some(entry.keys.clone()),
            Some(_) => {
                entries.remove(&tenant);
                None
            }
            None => None,
        }
    }

    /// Caches `keys`; at capacity, expired entries go first, then the oldest load.
    pub(crate) fn insert(&self, keys: TenantKeys) {
        let mut entries = self.entries();
        if entries.len() >= self.max_tenants && !entries.contains_key(&keys.tenant()) {
            let ttl = self.ttl;
            entries.retain(|_, entry| entry.loaded_at.elapsed() < ttl);
            if entries.len() >= self.max_tenants {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, entry)| entry.loaded_at)
                    .map(|(tenant, _)| *tenant);
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(
            keys.tenant(),
            Entry {
                keys,
                loaded_at: Instant::now(),
            },
        );
    }

    pub(crate) fn evict(&self, tenant: TenantId) -> bool {
        self.entries().remove(&tenant).is_some()
    }

    pub(crate) fn clear(&self) {
        self.entries().clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.entries().len()
    }

    /// The lock that makes concurrent misses for one tenant unwrap its keys once.
    pub(crate) async fn load_lock(&self, tenant: TenantId) -> tokio::sync::MutexGuard<'_, ()> {
        let stripe = tenant.as_uuid().as_u128() as usize % LOAD_STRIPES;
        self.loads[stripe].lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::tests::keys;

    #[tokio::test(start_paused = true)]
    async fn entries_expire_after_the_ttl_and_the_oldest_goes_at_capacity() {
        let cache = KeyCache::new(Duration::from_secs(60), 2);
        let (a, b, c) = (keys(1, &[1], 1), keys(2, &[1], 1), keys(3, &[1], 1));
        cache.insert(a.clone());
        tokio::time::advance(Duration::from_secs(1)).await;
        cache.insert(b.clone());
        cache.insert(c.clone());
        assert_eq!(cache.len(), 2);
        assert!(cache.get(a.tenant()).is_none(), "the oldest was evicted");
        assert!(cache.get(b.tenant()).is_some() && cache.get(c.tenant()).is_some());
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(cache.get(b.tenant()).is_none(), "expired");
        assert!(cache.evict(c.tenant()) || cache.get(c.tenant()).is_none());
    }

    #[test]
    fn an_evicted_key_set_is_dropped_with_its_last_handle() {
        let cache = KeyCache::new(Duration::from_secs(60), 10);
        let handle = keys(7, &[1], 1);
        let weak = std::sync::Arc::downgrade(&handle.0);
        cache.insert(handle);
        assert!(weak.upgrade().is_some());
        assert!(cache.evict(crate::key::tests::keys(7, &[1], 1).tenant()));
        assert!(
            weak.upgrade().is_none(),
            "nothing holds (so nothing can read) the evicted keys"
        );
    }
}
