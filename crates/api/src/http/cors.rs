//! CORS: tower-http's rules, with its layer called only for requests whose answer depends on
//! them.
//!
//! A request without `Origin` (a probe, a server-to-server caller, a browser's same-origin GET)
//! gets the same headers from tower-http every time: with Haven's rules, which use no predicate,
//! they depend on neither the request nor the response. tower-http still builds a header map for
//! them per request and merges it into the response's; a profile of `/health/live` counted that
//! among the larger costs of a request (docs/PERFORMANCE.md, "CORS and compression only where
//! they act"). [`CorsLayer::new`] asks tower-http once, at start, what it adds to such a request;
//! [`Cors`] adds exactly that, merged the way tower-http merges it, and hands every other request
//! (an `Origin`, or a preflight) to tower-http itself. A test compares both, request by request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, header};
use futures::FutureExt;
use pin_project_lite::pin_project;
use tower::{Layer, Service, ServiceExt};
use tower_http::cors::AllowOrigin;

use super::request_id;
use crate::limits;

/// Haven's CORS rules (docs/API.md, "CORS") for the configured origins; `*` (development only:
/// production refuses it at start) allows any origin, without credentials.
pub fn rules(allowed_origins: &[String]) -> tower_http::cors::CorsLayer {
    let layer = tower_http::cors::CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::HEAD,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            request_id::X_REQUEST_ID.clone(),
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            request_id::X_REQUEST_ID.clone(),
            header::RETRY_AFTER,
            limits::RATELIMIT_LIMIT.clone(),
            limits::RATELIMIT_REMAINING.clone(),
            limits::RATELIMIT_RESET.clone(),
            // A created document's URL, and whether a create was an idempotent replay.
            header::LOCATION,
            HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(std::time::Duration::from_secs(600));
    if allowed_origins.iter().any(|o| o == "*") {
        return layer.allow_origin(AllowOrigin::any());
    }
    let origins: Vec<HeaderValue> = allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    layer
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
}

/// The layer that makes [`Cors`].
#[derive(Clone, Debug)]
pub struct CorsLayer {
    rules: tower_http::cors::CorsLayer,
    /// What tower-http adds to a request without `Origin`; `None` if it could not be asked,
    /// and then every request goes to tower-http.
    without_origin: Option<Arc<HeaderMap>>,
}

impl CorsLayer {
    pub fn new(rules: tower_http::cors::CorsLayer) -> Self {
        let without_origin = added_without_origin(&rules).map(Arc::new);
        Self {
            rules,
            without_origin,
        }
    }
}

/// The headers tower-http puts on the answer to a plain `GET` without `Origin`.
fn added_without_origin(rules: &tower_http::cors::CorsLayer) -> Option<HeaderMap> {
    let answer = tower::service_fn(|_: Request<()>| {
        futures::future::ready(Ok::<_, Infallible>(Response::new(())))
    });
    let request = Request::get("/").body(()).ok()?;
    // Without a predicate, tower-http's future is ready at once.
    let response = rules.layer(answer).oneshot(request).now_or_never()?;
    let Ok(response) = response;
    Some(response.into_parts().0.headers)
}

impl<S> Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        Cors {
            cors: self.rules.layer(inner),
            without_origin: self.without_origin.clone(),
        }
    }
}

/// The service: tower-http's for preflights and requests with `Origin`; for the rest, the
/// headers tower-http would add, added here.
#[derive(Clone, Debug)]
pub struct Cors<S> {
    cors: tower_http::cors::Cors<S>,
    without_origin: Option<Arc<HeaderMap>>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Cors<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = CorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.cors.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let plain =
            request.method() != Method::OPTIONS && !request.headers().contains_key(header::ORIGIN);
        match self.without_origin.as_ref().filter(|_| plain) {
            Some(added) => CorsFuture::Plain {
                added: Arc::clone(added),
                future: self.cors.get_mut().call(request),
            },
            None => CorsFuture::TowerHttp {
                future: self.cors.call(request),
            },
        }
    }
}

pin_project! {
    /// [`Cors`]'s future: tower-http's, or the inner service's with the fixed headers added
    /// (not boxed: it runs on every request).
    #[project = CorsFutureProj]
    pub enum CorsFuture<F> {
        TowerHttp {
            #[pin]
            future: tower_http::cors::ResponseFuture<F>,
        },
        Plain {
            #[pin]
            future: F,
            added: Arc<HeaderMap>,
        },
    }
}

impl<F, ResBody, E> Future for CorsFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: Default,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CorsFutureProj::TowerHttp { future } => future.poll(cx),
            CorsFutureProj::Plain { future, added } => {
                let mut response = ready!(future.poll(cx))?;
                merge(response.headers_mut(), added);
                Poll::Ready(Ok(response))
            }
        }
    }
}

/// As tower-http merges its headers into a response: `Vary` added to the response's own, then
/// each other header replacing the response's value of it.
fn merge(headers: &mut HeaderMap, added: &HeaderMap) {
    for vary in added.get_all(header::VARY) {
        headers.append(header::VARY, vary.clone());
    }
    for (name, value) in added.iter().filter(|(name, _)| *name != header::VARY) {
        headers.insert(name.clone(), value.clone());
    }
}

#[cfg(test)]
#[path = "cors_tests.rs"]
mod tests;
