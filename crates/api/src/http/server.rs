//! The HTTP/1.1 accept loop (hyper + hyper-util): a header read timeout against slow clients,
//! the peer address on every request, graceful shutdown. `axum::serve` has no timeout knob.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::BoxError;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use futures::future::Either;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::util::Oneshot;
use tower::{Service, ServiceExt};

/// Accepts connections until `stop` turns true (or its sender is dropped), then returns and
/// drops the listener, so new connections are refused from then on. Every connection is
/// registered with `graceful`, whose `shutdown` lets in-flight requests finish and closes idle
/// keep-alive connections.
pub async fn accept_until<S, B>(
    listener: TcpListener,
    app: S,
    header_read_timeout: Duration,
    graceful: &GracefulShutdown,
    mut stop: watch::Receiver<bool>,
) where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Also closes keep-alive connections idle for as long: clients reconnect.
        .header_read_timeout(header_read_timeout);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = stopped(&mut stop) => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    accept_failed(error).await;
                    continue;
                }
            },
        };
        // Responses are written whole; Nagle would only add latency.
        let _ = stream.set_nodelay(true);
        // One copy of the stack per connection, called in place: a connection's requests come
        // one after another and their futures do not borrow it, so the lock is never contended
        // and the stack is not cloned per request (docs/PERFORMANCE.md).
        let app = Mutex::new(app.clone());
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            // What `into_make_service_with_connect_info` would insert: the client_ip layer
            // reads it.
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            call_ready(&app, request.map(Body::new))
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                // Slow or vanished clients: expected, not an error of ours.
                tracing::debug!(error = %error, "connection ended with an error");
            }
        });
    }
}

/// Calls the connection's service in place when it is ready at once (Haven's always is); one
/// that is not gets a clone, driven to readiness by the returned future.
fn call_ready<S>(
    app: &Mutex<S>,
    request: Request<Body>,
) -> Either<S::Future, Oneshot<S, Request<Body>>>
where
    S: Service<Request<Body>, Error = Infallible> + Clone,
{
    let mut service = app.lock().unwrap_or_else(PoisonError::into_inner);
    match service.poll_ready(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(())) => Either::Left(service.call(request)),
        Poll::Pending => Either::Right(service.clone().oneshot(request)),
    }
}

/// Completes once `stop` turns true or its sender is gone (the guard it yields is not `Send`,
/// so it is dropped here, not held in the accept loop's state).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// A failed accept: a client that gave up before we accepted is harmless; anything else (out of
/// file descriptors) is logged and backed off from, instead of spinning on it.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(error = %error, "accept failed; backing off");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
