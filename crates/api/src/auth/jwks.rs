//! The issuer's signing keys: fetched from `jwks_uri`, cached by `kid`, refreshed after the TTL
//! in the background, refetched for an unknown `kid` at most once per cooldown process-wide.
//!
//! Read path: a `std::sync::RwLock` read to clone an `Arc` of the current key set (no async
//! lock, no allocation). Refreshes are single-flight: one `tokio::sync::Mutex` serialises them,
//! and a caller that waited while another fetch ran reuses that fetch's outcome. A failed or
//! empty refresh keeps the last good keys.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use url::Url;

use super::error::AuthError;
use super::http::HttpClient;
use super::keyset::{CachedKey, KeySet, Lookup};

/// The cache. Create it once per issuer (discovery does) and share it in an `Arc`.
pub struct JwksCache {
    http: HttpClient,
    uri: Url,
    ttl: Duration,
    cooldown: Duration,
    keys: RwLock<Arc<KeySet>>,
    refresh_lock: tokio::sync::Mutex<()>,
    epoch: Instant,
    /// Milliseconds since `epoch` of the last fetch attempt, plus one (0 = never).
    last_attempt_ms: AtomicU64,
    attempts: AtomicU64,
    last_ok: AtomicBool,
    in_flight: AtomicBool,
    background_scheduled: AtomicBool,
    fetches: AtomicU64,
    failures: AtomicU64,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("uri", &self.uri.as_str())
            .field("keys", &self.snapshot().len())
            .field("fetches", &self.fetch_count())
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// An empty cache for `uri`; the first lookup fetches.
    pub(crate) fn new(http: HttpClient, uri: Url, ttl: Duration, cooldown: Duration) -> Self {
        Self {
            http,
            uri,
            ttl,
            cooldown,
            keys: RwLock::new(Arc::new(KeySet::default())),
            refresh_lock: tokio::sync::Mutex::new(()),
            epoch: Instant::now(),
            last_attempt_ms: AtomicU64::new(0),
            attempts: AtomicU64::new(0),
            last_ok: AtomicBool::new(false),
            in_flight: AtomicBool::new(false),
            background_scheduled: AtomicBool::new(false),
            fetches: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// Installs keys obtained elsewhere (discovery fetched the JWKS already); counts as a fetch
    /// for the cooldown and the metrics.
    pub(crate) fn seed(&self, set: KeySet) {
        self.mark_attempt();
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let ok = !set.is_empty();
        if ok {
            self.install(set);
        }
        self.last_ok.store(ok, Ordering::Release);
    }

    /// JWKS fetch attempts so far (for metrics and tests).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// JWKS fetch attempts that failed or returned no usable key.
    pub fn failure_count(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Number of usable keys cached now.
    pub fn key_count(&self) -> usize {
        self.snapshot().len()
    }

    fn snapshot(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn install(&self, set: KeySet) {
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn mark_attempt(&self) {
        self.attempts.fetch_add(1, Ordering::AcqRel);
        self.last_attempt_ms
            .store(self.now_ms().saturating_add(1), Ordering::Release);
    }

    fn in_cooldown(&self) -> bool {
        let last = self.last_attempt_ms.load(Ordering::Acquire);
        let cooldown = u64::try_from(self.cooldown.as_millis()).unwrap_or(u64::MAX);
        last != 0 && self.now_ms().saturating_add(1).saturating_sub(last) < cooldown
    }

    /// The key to verify a token with `kid` / `alg`.
    ///
    /// Unknown `kid`: one refetch if none happened within the cooldown (callers arriving during
    /// a fetch wait for it), then `UnknownKid`, or `IdpUnavailable` when the last fetch failed.
    pub(crate) async fn key_for(
        self: &Arc<Self>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<CachedKey>, AuthError> {
        let snapshot = self.snapshot();
        if snapshot.fetched_at.is_none_or(|t| t.elapsed() >= self.ttl) {
            self.refresh_in_background();
        }
        match snapshot.find(kid, alg) {
            Lookup::Key(k) => return Ok(k),
            Lookup::WrongType => return Err(AuthError::BadAlgorithm),
            Lookup::Ambiguous if !snapshot.is_empty() => return Err(AuthError::KidMissing),
            Lookup::Ambiguous | Lookup::Missing => {}
        }
        let fetched_ok = self.refresh_for_miss().await;
        match self.snapshot().find(kid, alg) {
            Lookup::Key(k) => Ok(k),
            Lookup::WrongType => Err(AuthError::BadAlgorithm),
            _ if !fetched_ok => Err(AuthError::IdpUnavailable),
            Lookup::Ambiguous => Err(AuthError::KidMissing),
            Lookup::Missing => Err(AuthError::UnknownKid),
        }
    }

    /// Single-flight refetch for a key miss; returns whether the latest fetch succeeded.
    async fn refresh_for_miss(&self) -> bool {
        let seen = self.attempts.load(Ordering::Acquire);
        if !self.in_flight.load(Ordering::Acquire) && self.in_cooldown() {
            return self.last_ok.load(Ordering::Acquire);
        }
        let _guard = self.refresh_lock.lock().await;
        if self.attempts.load(Ordering::Acquire) != seen || self.in_cooldown() {
            return self.last_ok.load(Ordering::Acquire);
        }
        self.fetch_and_install("unknown_kid").await
    }

    /// Refetches the key set now, whatever the cooldown (an operator's `haven jwks refresh`,
    /// announced to every replica): a key the provider no longer publishes stops being accepted
    /// as soon as this returns `true`. A fetch already running is waited for, then this one
    /// runs, so a removal published just before the call is seen.
    pub async fn force_refresh(&self) -> bool {
        let _guard = self.refresh_lock.lock().await;
        self.fetch_and_install("forced").await
    }

    /// Stale-while-revalidate: the caller keeps using the cached keys while one task refreshes.
    fn refresh_in_background(self: &Arc<Self>) {
        if self.in_flight.load(Ordering::Acquire) || self.in_cooldown() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self
            .background_scheduled
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let this = Arc::clone(self);
        runtime.spawn(async move {
            {
                let _guard = this.refresh_lock.lock().await;
                if !this.in_cooldown() {
                    this.fetch_and_install("ttl").await;
                }
            }
            this.background_scheduled.store(false, Ordering::Release);
        });
    }

    /// Fetches and installs; must be called with `refresh_lock` held.
    async fn fetch_and_install(&self, trigger: &'static str) -> bool {
        struct InFlight<'a>(&'a AtomicBool);
        impl Drop for InFlight<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        self.in_flight.store(true, Ordering::Release);
        let _in_flight = InFlight(&self.in_flight);
        self.mark_attempt();
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let outcome = match self.http.get_json(&self.uri).await {
            Ok(resp) if resp.status() == http::StatusCode::OK => KeySet::parse(resp.body()),
            Ok(resp) => Err(format!("HTTP status {}", resp.status())),
            Err(e) => Err(e.to_string()),
        };
        let ok = match outcome {
            Ok(set) if !set.is_empty() => {
                tracing::info!(trigger, keys = set.len(), "JWKS refreshed");
                self.install(set);
                true
            }
            Ok(_) => {
                tracing::warn!(
                    trigger,
                    "JWKS has no usable signing key; keeping the previous keys"
                );
                false
            }
            Err(error) => {
                tracing::warn!(trigger, %error, "JWKS fetch failed; keeping the previous keys");
                false
            }
        };
        if !ok {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.last_ok.store(ok, Ordering::Release);
        ok
    }
}
