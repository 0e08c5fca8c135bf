//! The whole-request deadline (REQUEST_TIMEOUT_SECONDS): 408 REQ_006 when the service was still
//! waiting for the client's body, 504 REQ_004 when the service itself was slow.
//!
//! A slow or stalled client is not a server fault: answering it with 504 (logged at error) fed
//! the 5xx alarm. The body is wrapped so the deadline knows whether a handler was reading it and
//! its end had not arrived yet.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

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

/// Middleware: runs the rest of the stack within `limit`.
pub async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let progress = Arc::new(BodyProgress::default());
    let has_body = request.headers().contains_key(CONTENT_LENGTH)
        || request.headers().contains_key(TRANSFER_ENCODING);
    if !has_body {
        // Nothing can be waited for from the client: only the service can be slow.
        return match tokio::time::timeout(limit, next.run(request)).await {
            Ok(response) => response,
            Err(_) => ApiError::new(codes::REQ_004).into_response(),
        };
    }
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
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) if progress.waiting_on_client() => {
            tracing::warn!(
                error_code = codes::REQ_006.code,
                "request body not received within the request timeout"
            );
            ApiError::new(codes::REQ_006).into_response()
        }
        Err(_) => ApiError::new(codes::REQ_004).into_response(),
    }
}
