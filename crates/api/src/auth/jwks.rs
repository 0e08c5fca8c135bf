//! The issuer's signing keys: fetched from `jwks_uri`, cached by `kid`, refetched when stale
//! (TTL or the key set's `max-age`, revalidated with its `ETag`), refetched for an unknown `kid`
//! at most once per cooldown process-wide, and on demand through [`JwksCache::force_refresh`].
//!
//! Read path: a `std::sync::RwLock` read to clone an `Arc` of the current key set (no async
//! lock, no allocation). Fetches are single-flight: one `tokio::sync::Mutex` serialises them,
//! and a caller that waited while another fetch ran reuses that fetch's outcome. A failed or
//! empty fetch keeps the last good keys. Only fetches caused by an unknown `kid` start the
//! cooldown: discovery, staleness and forced fetches never make a new key wait.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use url::Url;

use super::error::AuthError;
use super::http::HttpClient;
use super::keyset::{CachedKey, KeySet, Lookup};

/// A `max-age` shorter than this is raised to it (a key set is never refetched per request).
const MIN_FRESHNESS: Duration = Duration::from_secs(1);

/// The cache. Create it once per issuer (discovery does) and share it in an `Arc`.
pub struct JwksCache {
    http: HttpClient,
    uri: Url,
    ttl: Duration,
    cooldown: Duration,
    keys: RwLock<Arc<KeySet>>,
    refresh_lock: tokio::sync::Mutex<()>,
    epoch: Instant,
    /// Milliseconds since `epoch` of the last fetch caused by an unknown `kid`, plus one
    /// (0 = never): the cooldown runs from it.
    last_miss_fetch_ms: AtomicU64,
    /// Milliseconds since `epoch` of the last failed fetch, plus one (0 = never): a stale key set
    /// is not refetched again within the cooldown while the provider is failing.
    last_failure_ms: AtomicU64,
    /// Completed fetches; a caller that waited for the lock compares it to reuse a fetch.
    generation: AtomicU64,
    last_ok: AtomicBool,
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

/// What a key miss got from the fetcher.
enum MissFetch {
    /// A fetch ran (ours or one we waited for); whether it succeeded.
    Fetched(bool),
    /// A miss fetch ran less than a cooldown ago: none now.
    CoolingDown { retry_after: Duration },
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
            last_miss_fetch_ms: AtomicU64::new(0),
            last_failure_ms: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            last_ok: AtomicBool::new(false),
            fetches: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    /// Installs keys obtained elsewhere (discovery fetched the JWKS already). Counts as a fetch
    /// for the metrics; does not start the unknown-`kid` cooldown.
    pub(crate) fn seed(&self, set: KeySet) {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let ok = !set.is_empty();
        if ok {
            self.install(set);
        }
        self.last_ok.store(ok, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
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

    /// Fetches the key set now, whatever the TTL or the cooldown say, and installs it; waits
    /// for a fetch already running. For an operator's "a key was removed" signal (e.g. a
    /// cluster-wide notification every replica listens to). Returns the number of usable keys,
    /// or why the fetch failed (the previous keys are kept then).
    pub async fn force_refresh(&self) -> Result<usize, String> {
        let _guard = self.refresh_lock.lock().await;
        if self.fetch_and_install("forced").await {
            Ok(self.key_count())
        } else {
            Err("the key set could not be fetched or had no usable key".to_owned())
        }
    }

    /// The usable keys as a JWKS document (for openidconnect's ID-token verifier).
    pub(crate) fn jwks_document(&self) -> serde_json::Value {
        self.snapshot().jwks_document()
    }

    fn snapshot(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn install(&self, mut set: KeySet) {
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        set.number = keys.number + 1;
        *keys = Arc::new(set);
    }

    /// The number of the key set in use ([`KeySet::number`]) while it is fresh; `None` when it
    /// is stale (the next lookup refetches) or empty. The validator remembers a token accepted
    /// under one number only while this still returns it: any install forgets them all.
    pub(crate) fn fresh_key_set(&self) -> Option<u64> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        (!keys.is_empty() && !keys.is_stale(self.ttl)).then_some(keys.number)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    /// Time left of the cooldown started at `mark` (`None`: over, or never started).
    fn cooldown_left(&self, mark: &AtomicU64) -> Option<Duration> {
        let last = mark.load(Ordering::Acquire);
        let elapsed = Duration::from_millis(self.now_ms().saturating_sub(last));
        (last != 0 && elapsed < self.cooldown).then(|| self.cooldown - elapsed)
    }

    /// The key to verify a token with `kid` / `alg`; `issued_at` gives the token's (unverified)
    /// `iat` when a miss must decide between "unknown key" and "try again".
    ///
    /// A stale key set is refetched first (single-flight; while the provider fails, the last
    /// keys are used and no refetch is tried within the cooldown). An unknown `kid` refetches
    /// once unless a miss refetch ran within the cooldown; then the answer is `UnknownKid`
    /// when the keys were fetched after the token was issued (the key is really not
    /// published), else `KeysCoolingDown` (retryable, with the time left).
    ///
    /// With the key comes the [`KeySet::number`] of the snapshot it was found in.
    pub(crate) async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        issued_at: impl FnOnce() -> Option<i64>,
    ) -> Result<(Arc<CachedKey>, u64), AuthError> {
        let mut snapshot = self.snapshot();
        if snapshot.is_stale(self.ttl) {
            // The refetches are boxed: their HTTP futures are kilobytes, and inline they would
            // be moved with every token's validation, which almost never refetches.
            snapshot = Box::pin(self.refresh_stale()).await;
        }
        match snapshot.find(kid, alg) {
            Lookup::Key(k) => return Ok((k, snapshot.number)),
            Lookup::WrongType => return Err(AuthError::BadAlgorithm),
            Lookup::Ambiguous if !snapshot.is_empty() => return Err(AuthError::KidMissing),
            Lookup::Ambiguous | Lookup::Missing => {}
        }
        let fetched_ok = match Box::pin(self.refresh_for_miss()).await {
            MissFetch::Fetched(ok) => ok,
            MissFetch::CoolingDown { retry_after } => {
                return Err(self.miss_during_cooldown(retry_after, issued_at()));
            }
        };
        let snapshot = self.snapshot();
        match snapshot.find(kid, alg) {
            Lookup::Key(k) => Ok((k, snapshot.number)),
            Lookup::WrongType => Err(AuthError::BadAlgorithm),
            _ if !fetched_ok => Err(AuthError::IdpUnavailable),
            Lookup::Ambiguous => Err(AuthError::KidMissing),
            Lookup::Missing => {
                tracing::info!(
                    reason = "unknown_kid",
                    refetched = true,
                    "token names a key the freshly fetched key set does not have"
                );
                Err(AuthError::UnknownKid)
            }
        }
    }

    fn miss_during_cooldown(&self, retry_after: Duration, issued_at: Option<i64>) -> AuthError {
        if !self.last_ok.load(Ordering::Acquire) {
            return AuthError::IdpUnavailable;
        }
        let fetched_unix = self.snapshot().fetched_unix;
        if issued_at.is_some_and(|iat| fetched_unix > iat) {
            tracing::info!(
                reason = "unknown_kid",
                refetched = false,
                "token names a key that the key set fetched after the token was issued does not have"
            );
            return AuthError::UnknownKid;
        }
        let secs = retry_after.as_secs_f64().ceil() as u32;
        tracing::info!(
            reason = "unknown_kid_cooldown",
            retry_after_secs = secs,
            "token names an unknown key; refetch skipped (cooldown), answered as retryable"
        );
        AuthError::KeysCoolingDown {
            retry_after_secs: secs.max(1),
        }
    }

    /// Single-flight refetch for a key miss, limited to one per cooldown process-wide.
    async fn refresh_for_miss(&self) -> MissFetch {
        let seen = self.generation.load(Ordering::Acquire);
        if let Some(retry_after) = self.cooldown_left(&self.last_miss_fetch_ms)
            && self.refresh_lock.try_lock().is_ok()
        {
            return MissFetch::CoolingDown { retry_after };
        }
        let _guard = self.refresh_lock.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return MissFetch::Fetched(self.last_ok.load(Ordering::Acquire));
        }
        if let Some(retry_after) = self.cooldown_left(&self.last_miss_fetch_ms) {
            return MissFetch::CoolingDown { retry_after };
        }
        self.last_miss_fetch_ms
            .store(self.now_ms(), Ordering::Release);
        MissFetch::Fetched(self.fetch_and_install("unknown_kid").await)
    }

    /// Refetches a stale key set (single-flight) and returns the snapshot to use.
    async fn refresh_stale(&self) -> Arc<KeySet> {
        if self.cooldown_left(&self.last_failure_ms).is_some() {
            return self.snapshot();
        }
        let seen = self.generation.load(Ordering::Acquire);
        let _guard = self.refresh_lock.lock().await;
        if self.generation.load(Ordering::Acquire) == seen
            && self.cooldown_left(&self.last_failure_ms).is_none()
        {
            self.fetch_and_install("ttl").await;
        }
        self.snapshot()
    }

    /// Fetches and installs; must be called with `refresh_lock` held.
    async fn fetch_and_install(&self, trigger: &'static str) -> bool {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let current = self.snapshot();
        let outcome = match self.http.get_json(&self.uri, current.etag.as_deref()).await {
            Ok(resp) if resp.status() == http::StatusCode::NOT_MODIFIED && !current.is_empty() => {
                let (fresh_for, etag) = freshness(resp.headers(), self.ttl);
                Ok((*current)
                    .clone()
                    .confirmed(fresh_for, etag.or(current.etag.clone())))
            }
            Ok(resp) if resp.status() == http::StatusCode::OK => {
                let (fresh_for, etag) = freshness(resp.headers(), self.ttl);
                KeySet::parse(resp.body()).map(|set| set.confirmed(fresh_for, etag))
            }
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
            self.last_failure_ms.store(self.now_ms(), Ordering::Release);
        }
        self.last_ok.store(ok, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        ok
    }
}

/// The key set's own freshness: `Cache-Control: max-age` (`no-cache`/`no-store` count as 0),
/// raised to [`MIN_FRESHNESS`] and capped by `ttl`; and its `ETag`.
fn freshness(headers: &http::HeaderMap, ttl: Duration) -> (Option<Duration>, Option<String>) {
    let directives = headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| d.trim().to_ascii_lowercase());
    let mut max_age = None;
    for directive in directives {
        if directive == "no-cache" || directive == "no-store" {
            max_age = Some(0);
        } else if let Some(secs) = directive.strip_prefix("max-age=") {
            max_age = secs.trim_matches('"').parse::<u64>().ok().or(max_age);
        }
    }
    let fresh_for = max_age.map(|secs| Duration::from_secs(secs).max(MIN_FRESHNESS).min(ttl));
    let etag = headers
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 256)
        .map(str::to_owned);
    (fresh_for, etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                    http::HeaderValue::from_str(v).expect("value"),
                )
            })
            .collect()
    }

    #[test]
    fn max_age_is_honoured_between_the_floor_and_the_ttl() {
        let ttl = Duration::from_secs(3600);
        let secs = Duration::from_secs;
        let cases = [
            (
                vec![("cache-control", "public, max-age=60")],
                Some(secs(60)),
            ),
            (vec![("cache-control", "max-age=0")], Some(MIN_FRESHNESS)),
            (vec![("cache-control", "no-store")], Some(MIN_FRESHNESS)),
            (vec![("cache-control", "max-age=86400")], Some(ttl)),
            (vec![("cache-control", "max-age=soon")], None),
            (vec![], None),
        ];
        for (given, expected) in cases {
            assert_eq!(freshness(&headers(&given), ttl).0, expected, "{given:?}");
        }
        let (_, etag) = freshness(&headers(&[("etag", "W/\"k1\"")]), ttl);
        assert_eq!(etag.as_deref(), Some("W/\"k1\""));
    }
}
