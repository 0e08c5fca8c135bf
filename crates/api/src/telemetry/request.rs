//! The request span and the one log line each request produces.

use std::time::Instant;

use axum::extract::Request;
use tracing::Span;
use tracing::field::Empty;

use crate::http::request_id::RequestId;

/// Opens the request span: everything logged while serving carries its fields. Only the method
/// and (later) the matched route template are recorded: never the raw path's query string, a
/// header or a body.
pub fn open_span(request: &Request, request_id: &RequestId) -> Span {
    tracing::info_span!(
        "request",
        request_id = request_id.as_str(),
        client_request_id = request_id.client(),
        method = %request.method(),
        route = Empty,
        error_code = Empty,
        tenant_id = Empty,
        user_id = Empty,
    )
}

/// Writes the request's one line once the response is ready; called inside the request span,
/// whose fields the line carries. `status` and `duration_ms` are the line's own fields: no other
/// line has them, and recording them on the span first would cost two span updates per request.
pub fn completed(status: u16, started: Instant) {
    // Microsecond resolution is plenty and keeps the number short.
    let duration_ms = started.elapsed().as_micros() as f64 / 1000.0;
    if status >= 500 {
        tracing::error!(status, duration_ms, "request completed");
    } else {
        tracing::info!(status, duration_ms, "request completed");
    }
}
