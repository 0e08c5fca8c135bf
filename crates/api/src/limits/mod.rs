//! Load limits: rate limits (per client IP, per principal) and the concurrency cap that sheds
//! excess load instead of queueing it.
//!
//! With REDIS_URL the rate limits are counted in Redis and shared by every replica; without it
//! (or while Redis is unreachable) each replica counts on its own, so N replicas admit up to N
//! times the configured rate (docs/API.md, "Rate limits"). The concurrency cap and the tenants'
//! shares of the database (`tenant_share.rs`) are per replica.

mod concurrency;
mod deadline;
mod headers;
mod openapi;
mod rate;
mod shared;
mod tenant_share;

use axum::http::StatusCode;

use crate::error::{ErrorBody, codes};

pub use concurrency::{ConcurrencyCap, shed_overload};
pub use deadline::deadline;
pub use headers::{RATELIMIT_LIMIT, RATELIMIT_REMAINING, RATELIMIT_RESET};
pub use openapi::document_limit_responses;
pub use rate::{IpLimits, PrincipalLimits, per_ip, per_principal};
pub use shared::SharedStore;
pub use tenant_share::{Kind as ShareKind, Share, TenantShares};

/// The health probes, by exact path.
pub const PROBE_PATHS: [&str; 2] = ["/api/v1/health/live", "/api/v1/health/ready"];

/// Health probes are never limited or shed: a busy replica must still say it is alive, or the
/// platform restarts it in the middle of its load. Exact paths only: anything else under
/// `/api/v1/health/` (an unknown path, a trailing slash) is limited like every other request.
pub fn is_probe(path: &str) -> bool {
    PROBE_PATHS.contains(&path)
}

/// A failed authentication, as opposed to an authenticated caller lacking a role: every 401,
/// and the 403s that reject the token's tenant. These are what token guessing produces, so
/// they are throttled per client IP and counted by code in the metrics.
pub fn is_auth_failure(status: StatusCode, body: Option<&ErrorBody>) -> bool {
    if status == StatusCode::UNAUTHORIZED {
        return true;
    }
    status == StatusCode::FORBIDDEN
        && body.is_some_and(|b| {
            [
                codes::AUTH_005,
                codes::AUTH_007,
                codes::TENANT_001,
                codes::TENANT_002,
                codes::USER_001,
            ]
            .contains(&b.code)
        })
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn body(code: crate::error::ErrorCode) -> ErrorBody {
        ErrorBody {
            code,
            message: Cow::Borrowed(code.message),
            details: Vec::new(),
            extra: None,
        }
    }

    #[test]
    fn a_401_or_a_rejected_tenant_is_an_auth_failure_but_a_missing_role_is_not() {
        assert!(is_auth_failure(StatusCode::UNAUTHORIZED, None));
        assert!(is_auth_failure(
            StatusCode::FORBIDDEN,
            Some(&body(codes::TENANT_001))
        ));
        assert!(!is_auth_failure(
            StatusCode::FORBIDDEN,
            Some(&body(codes::AUTH_009))
        ));
        assert!(!is_auth_failure(StatusCode::FORBIDDEN, None));
        assert!(!is_auth_failure(StatusCode::NOT_FOUND, None));
    }

    #[test]
    fn only_the_health_probes_are_exempt() {
        assert!(is_probe("/api/v1/health/live"));
        assert!(is_probe("/api/v1/health/ready"));
        assert!(!is_probe("/api/v1/healthz"));
        assert!(!is_probe("/api/v1/health/"));
        assert!(!is_probe("/api/v1/health/live/"));
        assert!(!is_probe("/api/v1/health/anything-else"));
        assert!(!is_probe("/api/v1/health/../me"));
        assert!(!is_probe("/api/v1/me"));
    }
}
