//! The rate-limit response headers (IETF draft names `RateLimit-Limit`, `RateLimit-Remaining`,
//! `RateLimit-Reset`) and the 429 answer with `Retry-After`.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, codes};

pub static RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub static RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub static RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Where a caller stands: `limit` requests may arrive at once (the burst), `remaining` of them
/// are left now, and in `reset` the full burst is available again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u32,
    pub remaining: u32,
    pub reset: Duration,
}

/// Whole seconds, rounded up, so a client that waits that long is never early.
pub fn ceil_seconds(duration: Duration) -> u64 {
    let seconds = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        seconds + 1
    } else {
        seconds
    }
}

pub fn apply(headers: &mut HeaderMap, budget: Budget) {
    headers.insert(RATELIMIT_LIMIT.clone(), HeaderValue::from(budget.limit));
    headers.insert(
        RATELIMIT_REMAINING.clone(),
        HeaderValue::from(budget.remaining),
    );
    headers.insert(
        RATELIMIT_RESET.clone(),
        HeaderValue::from(ceil_seconds(budget.reset)),
    );
}

/// 429 RATE_001 in the envelope, with `Retry-After` (at least one second) and the headers.
pub fn too_many_requests(limit: u32, wait: Duration, scope: &'static str) -> Response {
    metrics::counter!("http_rate_limited_total", "scope" => scope).increment(1);
    let seconds = ceil_seconds(wait).max(1);
    tracing::info!(
        scope,
        retry_after_s = seconds,
        error_code = codes::RATE_001.code,
        "rate limited"
    );
    let mut response = ApiError::new(codes::RATE_001)
        .with_retry_after(seconds)
        .into_response();
    apply(
        response.headers_mut(),
        Budget {
            limit,
            remaining: 0,
            reset: Duration::from_secs(seconds),
        },
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(ceil_seconds(Duration::ZERO), 0);
        assert_eq!(ceil_seconds(Duration::from_millis(1)), 1);
        assert_eq!(ceil_seconds(Duration::from_secs(2)), 2);
        assert_eq!(ceil_seconds(Duration::from_millis(2001)), 3);
    }

    #[test]
    fn a_rejection_carries_retry_after_and_an_empty_budget() {
        let response = too_many_requests(10, Duration::from_millis(1500), "ip");
        assert_eq!(response.status(), 429);
        let headers = response.headers();
        assert_eq!(headers["retry-after"], "2");
        assert_eq!(headers["ratelimit-limit"], "10");
        assert_eq!(headers["ratelimit-remaining"], "0");
        assert_eq!(headers["ratelimit-reset"], "2");
    }
}
