//! Security headers on every response (a handler that sets its own keeps it).

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;

const ALWAYS: [(HeaderName, &str); 5] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    // A JSON API loads nothing and is framed by no one; the docs pages set their own policy.
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (header::REFERRER_POLICY, "no-referrer"),
    // Responses may hold PHI: no shared or browser cache keeps them.
    (header::CACHE_CONTROL, "no-store"),
];

/// Adds the headers a response does not set itself; HSTS only in production (browsers remember
/// it, and a developer's http://localhost must keep working).
pub fn apply(response: &mut Response, production: bool) {
    let headers = response.headers_mut();
    // One lookup each: `entry` finds the header or its free slot.
    for (name, value) in ALWAYS {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    }
    if production {
        headers
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert_with(|| HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    }
}
