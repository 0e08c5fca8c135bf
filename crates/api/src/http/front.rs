//! The outer part of every request, in one tower service: request id, client address, the request
//! span and its log line, the envelope, metrics and security headers.
//!
//! These were six `from_fn` layers, then one. A `from_fn` layer clones everything inside it for
//! every request (its `Next` owns the rest of the stack), which made the per-request cost grow
//! with the square of the stack's depth; a profile of `/health/live` showed the clones and their
//! drops among the largest costs (docs/PERFORMANCE.md). [`Front`] is a plain tower service: the
//! steps run in the same order around one call of the service inside, and nothing is cloned.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::body::{Body, HttpBody};
use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use futures::future::BoxFuture;
use ipnet::IpNet;
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::Instrument;

use super::{client_ip, metrics, request_id, security};
use crate::{error, telemetry};

/// What the middleware needs from the configuration.
#[derive(Debug)]
pub struct FrontSettings {
    pub trusted_proxies: Vec<IpNet>,
    /// Production adds `Strict-Transport-Security`.
    pub production: bool,
}

/// The layer that makes [`Front`].
#[derive(Clone, Debug)]
pub struct FrontLayer(Arc<FrontSettings>);

impl FrontLayer {
    pub fn new(settings: FrontSettings) -> Self {
        Self(Arc::new(settings))
    }
}

impl<S> Layer<S> for FrontLayer {
    type Service = Front<S>;

    fn layer(&self, inner: S) -> Front<S> {
        Front {
            inner,
            settings: self.0.clone(),
        }
    }
}

/// The service. On the way in: the request id (the caller's if safe), the client address, the
/// span. On the way out, innermost first: security headers (a handler's own are kept), metrics
/// (which still see the handler's error code), the envelope for every 4xx/5xx (which records
/// `error_code` on the span), the log line, and `X-Request-ID` on every response.
#[derive(Clone, Debug)]
pub struct Front<S> {
    inner: S,
    settings: Arc<FrontSettings>,
}

impl<S, B> Service<Request> for Front<S>
where
    S: Service<Request, Response = axum::http::Response<B>, Error = Infallible>,
    S::Future: Send + 'static,
    B: HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let id = request_id::assign(&mut request);
        client_ip::resolve(&mut request, &self.settings.trusted_proxies);
        let span = telemetry::open_span(&request, &id);
        let started = Instant::now();
        let production = self.settings.production;
        let timing = metrics::start(&request);
        // In the span: the services inside do part of their work (and may log) when called.
        let inner = span.in_scope(|| self.inner.call(request));
        Box::pin(async move {
            // All in the span, the line included: entered once per poll, not cloned.
            let handled = async {
                let Ok(response) = inner.await;
                let mut response = response.map(Body::new);
                security::apply(&mut response, production);
                if let Some(timing) = timing {
                    metrics::record(timing, &response);
                }
                let response = error::render_envelope(response, Some(&id));
                telemetry::completed(response.status().as_u16(), started);
                response
            };
            let mut response = handled.instrument(span).await;
            request_id::stamp(&mut response, &id);
            Ok(response)
        })
    }
}

/// Headers a routed response usually ends with: its own content type, `Vary` (CORS), six
/// security headers and `X-Request-ID`, with room to spare. A header map of this capacity holds
/// them without growing.
const RESPONSE_HEADERS: usize = 12;

/// The route layer that makes [`MatchedRoute`].
#[derive(Clone, Copy, Debug, Default)]
pub struct MatchedRouteLayer;

impl<S> Layer<S> for MatchedRouteLayer {
    type Service = MatchedRoute<S>;

    fn layer(&self, inner: S) -> MatchedRoute<S> {
        MatchedRoute(inner)
    }
}

/// Route layer (runs after routing, for matched routes only, so unknown paths keep no route):
/// records the matched route template on the span and, with metrics on, hands it out on the
/// response to [`metrics::record`], since routing happens inside the stack and [`Front`] cannot
/// see it on the request.
#[derive(Clone, Debug)]
pub struct MatchedRoute<S>(S);

impl<S> Service<Request> for MatchedRoute<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = MatchedRouteFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let path = request.extensions().get::<MatchedPath>().cloned();
        if let Some(path) = &path {
            tracing::Span::current().record("route", path.as_str());
        }
        MatchedRouteFuture {
            future: self.0.call(request),
            path: path.filter(|_| metrics::enabled()),
        }
    }
}

pin_project! {
    /// [`MatchedRoute`]'s future (not boxed: it runs on every routed request).
    pub struct MatchedRouteFuture<F> {
        #[pin]
        future: F,
        path: Option<MatchedPath>,
    }
}

impl<F> Future for MatchedRouteFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = ready!(this.future.poll(cx));
        // Room for the headers the outer layers add (CORS, the security headers, the request
        // id), so the map grows once here instead of once per layer.
        let headers = response.headers_mut();
        headers.reserve(RESPONSE_HEADERS.saturating_sub(headers.len()));
        if let Some(path) = this.path.take() {
            response.extensions_mut().insert(path);
        }
        Poll::Ready(Ok(response))
    }
}
