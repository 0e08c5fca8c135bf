//! Prometheus metrics: recorded by one layer of the public stack, served as text by a private
//! listener (METRICS_PORT), never by the public port. Labels are bounded sets (method, route
//! template, status, error code, limit scope): never a tenant or user id, never a raw path.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::ErrorBody;
use crate::limits::is_auth_failure;
use crate::state::AppState;

const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Whether a recorder is installed (METRICS_PORT set).
pub fn enabled() -> bool {
    HANDLE.get().is_some()
}

/// Installs the process-wide recorder once and returns its handle. Until it is installed the
/// `metrics` macros are no-ops, so a service without METRICS_PORT pays next to nothing.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets_for_metric(
                Matcher::Full("http_request_duration_seconds".to_owned()),
                LATENCY_BUCKETS,
            );
            let builder = builder.unwrap_or_else(|error| {
                tracing::warn!(error = %error, "latency buckets refused: exporting summaries");
                PrometheusBuilder::new()
            });
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed: /metrics stays empty");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "http_requests_total",
        "Requests answered, by method, route and status"
    );
    describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to the response head, by method, route and status"
    );
    describe_gauge!("http_requests_in_flight", "Requests being served now");
    describe_counter!(
        "http_requests_shed_total",
        "Requests refused with 503 because the concurrency cap was reached"
    );
    describe_counter!(
        "http_rate_limited_total",
        "Requests refused with 429, by scope (ip, auth_failures, principal)"
    );
    describe_gauge!("rate_limit_tracked_keys", "Keys held by each rate limiter");
    describe_counter!(
        "auth_failures_total",
        "Failed authentications (401, and 403 for the token's tenant), by error code"
    );
    describe_counter!(
        haven_db::audit::WRITTEN_METRIC,
        "Audit events written, by action and outcome, counted when their transaction commits"
    );
    describe_counter!(
        "audit_events_sealed_total",
        "Audit events sealed into the hash chain by this replica (each event is written with \
         its access and sealed within seconds, exactly once across replicas: sum over replicas)"
    );
    describe_gauge!(
        "db_pool_connections",
        "Pooled database connections, by state"
    );
    describe_gauge!(
        haven_db::audit_chain::UNSEALED_METRIC,
        "Audit events recorded and not sealed yet, database-wide (the same on every replica)"
    );
    describe_gauge!(
        haven_db::audit_chain::SEAL_LAG_METRIC,
        "Age in seconds of the oldest audit event not sealed yet, database-wide"
    );
    describe_gauge!("db_pool_max_connections", "DB_MAX_CONNECTIONS");
    describe_counter!("jwks_fetches_total", "JWKS fetch attempts");
    describe_counter!(
        "jwks_fetch_failures_total",
        "JWKS fetches that failed or held no key"
    );
    describe_counter!(
        "auth_token_cache_hits_total",
        "Bearer tokens accepted again without a signature check (the same bytes, accepted before \
         under the key set still in use, not expired)"
    );
    describe_gauge!(
        "oidc_discovery_ready",
        "1 once OIDC discovery has succeeded"
    );
    crate::storage::describe_metrics();
}

/// Keeps the exporter's histograms drained; the caller aborts the task at shutdown.
pub fn spawn_upkeep(handle: PrometheusHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    })
}

/// The sealer's report: `count` audit events were sealed (see `audit_chain::spawn_sealer`).
pub fn audit_events_sealed(count: usize) {
    metrics::counter!("audit_events_sealed_total").increment(count as u64);
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A request being timed for the metrics: see [`start`] and [`record`].
pub struct Timing {
    method: &'static str,
    started: Instant,
}

/// Starts timing `request`; `None` without a recorder (no METRICS_PORT), where nothing would be
/// kept, so no labels are built either.
pub fn start(request: &Request) -> Option<Timing> {
    HANDLE.get()?;
    Some(Timing {
        method: method_label(request.method()),
        started: Instant::now(),
    })
}

/// Counts and times a response (by `http::front::Front`, before the envelope is rendered, so
/// it still sees the handler's error code).
pub fn record(timing: Timing, response: &Response) {
    let Timing { method, started } = timing;
    let elapsed = started.elapsed().as_secs_f64();
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let status = response.status();
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status.as_str().to_owned()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed);
    let body = response.extensions().get::<ErrorBody>();
    if is_auth_failure(status, body) {
        let code = body.map_or("AUTH_001", |b| b.code.code);
        metrics::counter!("auth_failures_total", "code" => code).increment(1);
    }
}

/// The private listener's router: `GET /metrics` and nothing else.
pub fn router(handle: PrometheusHandle, state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state((handle, state))
}

async fn scrape(State((handle, state)): State<(PrometheusHandle, AppState)>) -> Response {
    sample(&state);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// Gauges read at scrape time from what the pool and the IdP client already count.
fn sample(state: &AppState) {
    let size = state.pool.size();
    let idle = u32::try_from(state.pool.num_idle()).unwrap_or(u32::MAX);
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("db_pool_connections", "state" => "in_use")
        .set(f64::from(size.saturating_sub(idle)));
    metrics::gauge!("db_pool_max_connections")
        .set(f64::from(state.config.database.max_connections));
    if let Some(oidc) = &state.oidc {
        metrics::counter!("jwks_fetches_total").absolute(oidc.jwks_fetch_count());
        let failures = oidc.jwks().map_or(0, |jwks| jwks.failure_count());
        metrics::counter!("jwks_fetch_failures_total").absolute(failures);
        metrics::counter!("auth_token_cache_hits_total").absolute(oidc.token_cache_hits());
        metrics::gauge!("oidc_discovery_ready").set(if oidc.is_ready() { 1.0 } else { 0.0 });
    }
}
