//! The whole-request deadline (REQUEST_TIMEOUT_SECONDS): 408 REQ_006 when the service was still
//! waiting for the client's body, 504 REQ_004 when the service itself was slow.
//!
//! A slow or stalled client is not a server fault: answering it with 504 (logged at error) fed
//! the 5xx alarm. The body is wrapped so the deadline knows whether a handler was reading it and
//! its end had not arrived yet.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use pin_project_lite::pin_project;
use tokio::time::Timeout;
use tower::Service;
use tower::layer::{LayerFn, layer_fn};

use crate::error::{ApiError, codes};

/// How far the handler got with the request body.
#[derive(Default)]
struct BodyProgress {
    /// Someone asked for the body.
    read: AtomicBool,
    /// Its end arrived.
    done: AtomicBool,
}

impl BodyProgress {
    fn waiting_on_client(&self) -> bool {
        self.read.load(Ordering::Acquire) && !self.done.load(Ordering::Acquire)
    }
}

/// The layer of the whole-request deadline: [`Deadline`] runs the service inside within `limit`.
pub fn deadline<S>(limit: Duration) -> LayerFn<impl Fn(S) -> Deadline<S> + Clone> {
    layer_fn(move |inner| Deadline { inner, limit })
}

/// The service: a plain tower service rather than a `from_fn` layer, which would clone the
/// stack inside it for every request (docs/PERFORMANCE.md).
#[derive(Clone, Debug)]
pub struct Deadline<S> {
    inner: S,
    limit: Duration,
}

impl<S, B> Service<Request> for Deadline<S>
where
    S: Service<Request, Response = axum::http::Response<B>, Error = Infallible>,
    B: HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let has_body = request.headers().contains_key(CONTENT_LENGTH)
            || request.headers().contains_key(TRANSFER_ENCODING);
        if !has_body {
            // Nothing can be waited for from the client: only the service can be slow.
            return DeadlineFuture {
                timeout: tokio::time::timeout(self.limit, self.inner.call(request)),
                progress: None,
            };
        }
        let progress = Arc::new(BodyProgress::default());
        let tracked = Arc::clone(&progress);
        let request = request.map(|body| {
            let mut stream = body.into_data_stream();
            Body::from_stream(futures::stream::poll_fn(move |cx| {
                tracked.read.store(true, Ordering::Release);
                let next = stream.poll_next_unpin(cx);
                if let Poll::Ready(None) = next {
                    tracked.done.store(true, Ordering::Release);
                }
                next
            }))
        });
        DeadlineFuture {
            timeout: tokio::time::timeout(self.limit, self.inner.call(request)),
            progress: Some(progress),
        }
    }
}

pin_project! {
    /// [`Deadline`]'s future (not boxed: it runs on every request).
    pub struct DeadlineFuture<F> {
        #[pin]
        timeout: Timeout<F>,
        progress: Option<Arc<BodyProgress>>,
    }
}

impl<F, B> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<axum::http::Response<B>, Infallible>>,
    B: HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let waiting_on_client = |progress: &Option<Arc<BodyProgress>>| {
            progress.as_ref().is_some_and(|p| p.waiting_on_client())
        };
        Poll::Ready(Ok(match ready!(this.timeout.poll(cx)) {
            Ok(Ok(response)) => response.map(Body::new),
            Err(_) if waiting_on_client(this.progress) => {
                tracing::warn!(
                    error_code = codes::REQ_006.code,
                    "request body not received within the request timeout"
                );
                ApiError::new(codes::REQ_006).into_response()
            }
            Err(_) => ApiError::new(codes::REQ_004).into_response(),
        }))
    }
}
