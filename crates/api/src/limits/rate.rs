//! Rate limits (GCRA): per client IP for requests without credentials and for authentication
//! failures (token guessing), per subject and tenant for authenticated requests. With REDIS_URL
//! the budgets live in Redis, shared by every replica (`shared.rs`); otherwise, and whenever
//! Redis cannot answer, in this process (`governor`, a DashMap per limiter, pruned every half
//! minute so memory stays bounded).

use std::convert::Infallible;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use dashmap::DashMap;
use futures::future::{self, BoxFuture, Either};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use haven_db::ids::{TenantId, UserId};
use tower::Service;
use tower::layer::{LayerFn, layer_fn};

use super::headers::{self, Budget};
use super::shared::SharedStore;
use super::{is_auth_failure, is_probe};
use crate::config::LimitsConfig;
use crate::error::ErrorBody;
use crate::http::client_ip::ClientIp;
use crate::principal::Principal;

const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(30);

type Limiter<K> =
    RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// How a key is named in the shared store.
trait SharedKey {
    fn shared_key(&self, scope: &str) -> String;
}

impl SharedKey for IpAddr {
    fn shared_key(&self, scope: &str) -> String {
        format!("haven:rl:{scope}:{self}")
    }
}

impl SharedKey for (TenantId, UserId) {
    fn shared_key(&self, scope: &str) -> String {
        format!("haven:rl:{scope}:{}:{}", self.0, self.1)
    }
}

/// One keyed limiter: `per_minute` sustained, `burst` at once; counted in the shared store when
/// there is one, else (and when it cannot answer) here.
struct Keyed<K: Hash + Eq + Clone> {
    limiter: Limiter<K>,
    burst: u32,
    interval: Duration,
    shared: Option<(Arc<SharedStore>, &'static str)>,
}

impl<K: Hash + Eq + Clone + SharedKey> Keyed<K> {
    /// Takes one request from `key`'s budget, shared by every replica when REDIS_URL is set.
    async fn admit(&self, key: &K) -> Result<Budget, Duration> {
        if let Some((store, scope)) = &self.shared {
            let name = key.shared_key(scope);
            if let Some(answer) = store.check(&name, self.interval, self.burst).await {
                return answer;
            }
        }
        self.check(key)
    }
}

impl<K: Hash + Eq + Clone> Keyed<K> {
    fn with_shared(mut self, shared: Option<Arc<SharedStore>>, scope: &'static str) -> Self {
        self.shared = shared.map(|store| (store, scope));
        self
    }

    fn new(per_minute: u32, burst: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Self {
            limiter: RateLimiter::dashmap(quota).with_middleware::<StateInformationMiddleware>(),
            burst: quota.burst_size().get(),
            interval: quota.replenish_interval(),
            shared: None,
        }
    }

    /// Takes one request from `key`'s budget; `Err` holds how long until one is available.
    fn check(&self, key: &K) -> Result<Budget, Duration> {
        match self.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity().min(self.burst);
                Ok(Budget {
                    limit: self.burst,
                    remaining,
                    reset: self.interval * (self.burst - remaining),
                })
            }
            Err(not_until) => Err(not_until.wait_time_from(self.limiter.clock().now())),
        }
    }

    /// Forgets keys whose bucket is full again (indistinguishable from a new key).
    fn housekeep(&self, scope: &'static str) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        metrics::gauge!("rate_limit_tracked_keys", "scope" => scope).set(self.limiter.len() as f64);
    }
}

/// Runs `housekeep` every half minute for as long as `limits` lives (and a runtime exists).
fn spawn_housekeeping<T: Send + Sync + 'static>(limits: &Arc<T>, housekeep: fn(&T)) {
    let weak: Weak<T> = Arc::downgrade(limits);
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(HOUSEKEEPING_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            tick.tick().await;
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(limits) => housekeep(&limits),
                    None => break,
                }
            }
        });
    }
}

/// An IPv6 client usually holds a whole /64: keying on the full address would let it rotate
/// through 2^64 keys, so IPv6 addresses are limited per /64.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// Marks a response as served to an authenticated principal (set inside `require_auth`), so
/// the per-IP layer leaves it to the per-principal limit.
#[derive(Debug, Clone, Copy)]
struct Authenticated;

/// The per-IP budget, shared by requests without credentials and by authentication failures.
pub struct IpLimits {
    keyed: Keyed<IpAddr>,
    /// IPs whose budget ran out on credentialed requests: until the instant, any request with
    /// credentials from them is refused before its token is even looked at.
    penalties: DashMap<IpAddr, Instant>,
}

impl IpLimits {
    /// `None` when rate limiting is disabled. `shared`: the budgets all replicas share.
    pub fn from_config(
        config: &LimitsConfig,
        shared: Option<Arc<SharedStore>>,
    ) -> Option<Arc<Self>> {
        if !config.rate_limit_enabled {
            return None;
        }
        let limits = Arc::new(Self {
            keyed: Keyed::new(config.anon_per_minute, config.anon_burst).with_shared(shared, "ip"),
            penalties: DashMap::new(),
        });
        spawn_housekeeping(&limits, Self::housekeep);
        Some(limits)
    }

    fn housekeep(&self) {
        self.keyed.housekeep("ip");
        let now = Instant::now();
        self.penalties.retain(|_, until| *until > now);
        self.penalties.shrink_to_fit();
    }

    fn penalty(&self, key: &IpAddr) -> Option<Duration> {
        let until = self.penalties.get(key).map(|entry| *entry)?;
        until.checked_duration_since(Instant::now())
    }
}

/// The layer of the per-IP limit: [`PerIp`] around the service inside; `limits` is `None` when
/// rate limiting is disabled.
pub fn per_ip<S>(limits: Option<Arc<IpLimits>>) -> LayerFn<impl Fn(S) -> PerIp<S> + Clone> {
    layer_fn(move |inner| PerIp {
        inner,
        limits: limits.clone(),
    })
}

/// The per-IP limit (global stack). Requests without credentials spend the IP's budget up
/// front. Requests with credentials spend it only when they do not end up authenticated (a
/// failure, or a public route that ignored the header) and the server did not fail; once it is
/// spent, further credentialed requests from that IP are refused until it refills.
///
/// A plain tower service: probes, requests with rate limiting off and credentialed requests call
/// the service inside at once; only a request without credentials, whose budget is taken
/// (perhaps from Redis) before it runs, needs its own handle on the service inside.
#[derive(Clone)]
pub struct PerIp<S> {
    inner: S,
    limits: Option<Arc<IpLimits>>,
}

impl<S> Service<Request> for PerIp<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let client = request.extensions().get::<ClientIp>().copied();
        let (Some(limits), Some(ClientIp(ip))) = (self.limits.clone(), client) else {
            return Either::Left(self.inner.call(request));
        };
        if is_probe(request.uri().path()) {
            return Either::Left(self.inner.call(request));
        }
        let key = ip_key(ip);
        let burst = limits.keyed.burst;
        if !request.headers().contains_key(AUTHORIZATION) {
            // The service inside was made ready for this request: it goes into the future, and
            // a fresh clone stays here for the next one.
            let fresh = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, fresh);
            return Either::Right(Box::pin(async move {
                Ok(match limits.keyed.admit(&key).await {
                    Ok(budget) => {
                        let Ok(mut response) = inner.call(request).await;
                        headers::apply(response.headers_mut(), budget);
                        response
                    }
                    Err(wait) => headers::too_many_requests(burst, wait, "ip"),
                })
            }));
        }
        if let Some(wait) = limits.penalty(&key) {
            let response = headers::too_many_requests(burst, wait, "auth_failures");
            return Either::Right(Box::pin(future::ready(Ok(response))));
        }
        let inner = self.inner.call(request);
        Either::Right(Box::pin(async move {
            let Ok(response) = inner.await;
            Ok(spend_unless_authenticated(&limits, key, response).await)
        }))
    }
}

/// The end of a credentialed request: authenticated, the per-principal limit counted it; a
/// server error (the IdP or the database unavailable) is not the client's doing and spends
/// nothing; anything else spends the IP's budget, and an IP out of budget is penalised.
async fn spend_unless_authenticated(
    limits: &IpLimits,
    key: IpAddr,
    mut response: Response,
) -> Response {
    if response.extensions().get::<Authenticated>().is_some() || response.status().is_server_error()
    {
        return response;
    }
    let failed = is_auth_failure(response.status(), response.extensions().get::<ErrorBody>());
    match limits.keyed.admit(&key).await {
        Ok(budget) => {
            headers::apply(response.headers_mut(), budget);
            response
        }
        Err(wait) => {
            limits.penalties.insert(key, Instant::now() + wait);
            if failed {
                headers::too_many_requests(limits.keyed.burst, wait, "auth_failures")
            } else {
                // The request did its work already: answer it, refuse the next ones.
                response
            }
        }
    }
}

/// The per-principal budget: one bucket per (tenant, user), i.e. per subject in a tenant.
pub struct PrincipalLimits {
    keyed: Keyed<(TenantId, UserId)>,
}

impl PrincipalLimits {
    /// `None` when rate limiting is disabled (the layer then only marks responses).
    /// `shared`: the budgets all replicas share.
    pub fn from_config(
        config: &LimitsConfig,
        shared: Option<Arc<SharedStore>>,
    ) -> Option<Arc<Self>> {
        if !config.rate_limit_enabled {
            return None;
        }
        let limits = Arc::new(Self {
            keyed: Keyed::new(config.principal_per_minute, config.principal_burst)
                .with_shared(shared, "principal"),
        });
        spawn_housekeeping(&limits, |l: &Self| l.keyed.housekeep("principal"));
        Some(limits)
    }
}

/// Route layer, placed inside `require_auth` (it needs the [`Principal`]): the per-principal
/// limit, with the RateLimit headers on every authenticated response.
pub async fn per_principal(
    State(limits): State<Option<Arc<PrincipalLimits>>>,
    request: Request,
    next: Next,
) -> Response {
    let key = request
        .extensions()
        .get::<Principal>()
        .map(|p| (p.tenant_id, p.user_id));
    if key.is_none() {
        tracing::error!("per-principal rate limit runs outside require_auth: not limiting");
    }
    let budget = match (limits, key) {
        (Some(limits), Some(key)) => match limits.keyed.admit(&key).await {
            Ok(budget) => Some(budget),
            Err(wait) => {
                let mut response =
                    headers::too_many_requests(limits.keyed.burst, wait, "principal");
                response.extensions_mut().insert(Authenticated);
                return response;
            }
        },
        _ => None,
    };
    let mut response = next.run(request).await;
    response.extensions_mut().insert(Authenticated);
    if let Some(budget) = budget {
        headers::apply(response.headers_mut(), budget);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_share_a_budget_per_64_and_mapped_ipv4_is_plain_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(ip_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_burst_is_admitted_then_refused_with_the_wait_until_the_next_request() {
        let keyed = Keyed::new(60, 3);
        let key = "192.0.2.1".parse::<IpAddr>().unwrap();
        let budgets: Vec<u32> = (0..3)
            .map(|_| keyed.check(&key).unwrap().remaining)
            .collect();
        assert_eq!(budgets, vec![2, 1, 0]);
        let wait = keyed.check(&key).unwrap_err();
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        let other = "192.0.2.2".parse::<IpAddr>().unwrap();
        assert_eq!(
            keyed.check(&other).unwrap().remaining,
            2,
            "keys are separate"
        );
    }
}
