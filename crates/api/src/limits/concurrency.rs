//! The concurrency cap: at most MAX_CONCURRENT_REQUESTS requests are served at once; the next
//! one is shed at once with 503 SYS_004 and `Retry-After`, never queued (a queue only turns an
//! overload into timeouts for everyone). Health probes are exempt.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use futures::future::{self, Either, Ready};
use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::Service;
use tower::layer::{LayerFn, layer_fn};

use super::is_probe;
use crate::error::{ApiError, codes};

/// The permits, shared by every clone of the service.
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

/// The layer that sheds overload: [`ShedOverload`] around the service inside.
pub fn shed_overload<S>(cap: ConcurrencyCap) -> LayerFn<impl Fn(S) -> ShedOverload<S> + Clone> {
    layer_fn(move |inner| ShedOverload {
        inner,
        cap: cap.clone(),
    })
}

/// The service: sheds a request when every permit is taken. A permit is taken without waiting,
/// so the service inside is called at once and nothing is cloned per request.
#[derive(Clone)]
pub struct ShedOverload<S> {
    inner: S,
    cap: ConcurrencyCap,
}

impl<S> Service<Request> for ShedOverload<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, Either<Ready<Result<Response, Infallible>>, Held<S::Future>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if is_probe(request.uri().path()) {
            return Either::Left(self.inner.call(request));
        }
        let Ok(permit) = self.cap.0.clone().try_acquire_owned() else {
            metrics::counter!("http_requests_shed_total").increment(1);
            tracing::warn!(error_code = codes::SYS_004.code, "overloaded: request shed");
            let response = ApiError::new(codes::SYS_004)
                .with_message("The service is at capacity; retry shortly")
                .with_retry_after(1)
                .into_response();
            return Either::Right(Either::Left(future::ready(Ok(response))));
        };
        Either::Right(Either::Right(Held {
            in_flight: Some(InFlight::new(permit)),
            future: self.inner.call(request),
        }))
    }
}

pin_project! {
    /// A request's future holding its permit until it completes or is dropped (not boxed: it
    /// runs on every request).
    pub struct Held<F> {
        #[pin]
        future: F,
        in_flight: Option<InFlight>,
    }
}

impl<F: Future> Future for Held<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let output = ready!(this.future.poll(cx));
        this.in_flight.take();
        Poll::Ready(output)
    }
}
