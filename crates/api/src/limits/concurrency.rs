//! The concurrency cap: at most MAX_CONCURRENT_REQUESTS requests are served at once; the next
//! one is shed at once with 503 SYS_004 and `Retry-After`, never queued (a queue only turns an
//! overload into timeouts for everyone). Health probes are exempt.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::is_probe;
use crate::error::{ApiError, codes};

/// The permits; cloned into the layer's state.
#[derive(Clone)]
pub struct ConcurrencyCap(Arc<Semaphore>);

impl ConcurrencyCap {
    pub fn new(max: usize) -> Self {
        Self(Arc::new(Semaphore::new(max.max(1))))
    }
}

/// Holds a permit for the lifetime of the request (also when the request is dropped by the
/// timeout or a disconnect) and keeps the in-flight gauge right.
struct InFlight {
    _permit: OwnedSemaphorePermit,
}

impl InFlight {
    fn new(permit: OwnedSemaphorePermit) -> Self {
        metrics::gauge!("http_requests_in_flight").increment(1.0);
        Self { _permit: permit }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("http_requests_in_flight").decrement(1.0);
    }
}

/// Middleware: sheds a request when every permit is taken.
pub async fn shed_overload(
    State(cap): State<ConcurrencyCap>,
    request: Request,
    next: Next,
) -> Response {
    if is_probe(request.uri().path()) {
        return next.run(request).await;
    }
    let Ok(permit) = cap.0.try_acquire_owned() else {
        metrics::counter!("http_requests_shed_total").increment(1);
        tracing::warn!(error_code = codes::SYS_004.code, "overloaded: request shed");
        return ApiError::new(codes::SYS_004)
            .with_message("The service is at capacity; retry shortly")
            .with_retry_after(1)
            .into_response();
    };
    let _in_flight = InFlight::new(permit);
    next.run(request).await
}
