//! The request span and the one log line each request produces.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing::field::Empty;

use crate::request_id::RequestId;

/// Middleware: opens the request span (everything logged while serving carries its fields)
/// and writes one line when the response is ready. Only the method and the matched route
/// template are recorded: never the raw path's query string, a header or a body.
pub async fn request_span(request: Request, next: Next) -> Response {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.as_str().to_owned());
    let span = tracing::info_span!(
        "request",
        request_id = request_id.as_deref(),
        method = %request.method(),
        route = Empty,
        status = Empty,
        duration_ms = Empty,
        error_code = Empty,
        tenant_id = Empty,
        user_id = Empty,
    );
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("status", status);
    // Microsecond resolution is plenty and keeps the number short.
    span.record("duration_ms", started.elapsed().as_micros() as f64 / 1000.0);
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!("request completed");
        } else {
            tracing::info!("request completed");
        }
    });
    response
}

/// Route-level middleware (runs after routing): records the matched route template.
pub async fn record_route(request: Request, next: Next) -> Response {
    if let Some(path) = request.extensions().get::<MatchedPath>() {
        tracing::Span::current().record("route", path.as_str());
    }
    next.run(request).await
}
