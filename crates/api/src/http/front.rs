//! The outer part of every request, in one middleware: request id, client address, the request
//! span and its log line, the envelope, metrics and security headers.
//!
//! These were six `from_fn` layers. Each such layer clones everything inside it for every request
//! (tower services are called through `&mut self`, so a call works on a clone), which made the
//! per-request cost grow with the square of the stack's depth; a profile of `/health/live`
//! showed the clones and their drops among the largest costs (docs/PERFORMANCE.md). Here the
//! steps run in the same order, as plain functions, around one `next.run`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use tracing::Instrument;

use super::{client_ip, metrics, request_id, security};
use crate::{error, telemetry};

/// What the middleware needs from the configuration.
#[derive(Debug)]
pub struct FrontSettings {
    pub trusted_proxies: Vec<IpNet>,
    /// Production adds `Strict-Transport-Security`.
    pub production: bool,
}

/// The middleware. On the way in: the request id (the caller's if safe), the client address,
/// the span. On the way out, innermost first: security headers (a handler's own are kept),
/// metrics (which still see the handler's error code), the envelope for every 4xx/5xx (which
/// records `error_code` on the span), the log line, and `X-Request-ID` on every response.
pub async fn serve(
    State(settings): State<Arc<FrontSettings>>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = request_id::assign(&mut request);
    client_ip::resolve(&mut request, &settings.trusted_proxies);
    let span = telemetry::open_span(&request, &id);
    let started = Instant::now();
    let production = settings.production;
    let inner = async {
        let timing = metrics::start(&request);
        let mut response = next.run(request).await;
        security::apply(&mut response, production);
        if let Some(timing) = timing {
            metrics::record(timing, &response);
        }
        error::render_envelope(response, Some(&id))
    };
    let mut response = inner.instrument(span.clone()).await;
    telemetry::completed(&span, response.status().as_u16(), started);
    request_id::stamp(&mut response, &id);
    response
}

/// Route layer (runs after routing, for matched routes only, so unknown paths keep no route):
/// records the matched route template on the span and, with metrics on, hands it out on the
/// response to [`metrics::record`], since routing happens inside the stack and [`serve`] cannot
/// see it on the request.
pub async fn matched_route(request: Request, next: Next) -> Response {
    let Some(path) = request.extensions().get::<MatchedPath>().cloned() else {
        return next.run(request).await;
    };
    tracing::Span::current().record("route", path.as_str());
    let mut response = next.run(request).await;
    if metrics::enabled() {
        response.extensions_mut().insert(path);
    }
    response
}
