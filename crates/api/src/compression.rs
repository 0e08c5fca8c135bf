//! Response compression: gzip or br, as the client's `Accept-Encoding` prefers, for JSON and
//! NDJSON bodies above a size threshold; never for probes or the login flow's answers.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Response, header};
use axum::response::IntoResponse;
use futures::future::Ready;
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// Bodies smaller than this go out as they are: below about a kilobyte the header overhead and
/// the CPU cost outweigh the bytes saved. A streamed body (the NDJSON export) has no known size
/// and is compressed.
pub const MIN_BYTES: u64 = 1024;

/// Path prefixes whose answers are never compressed: probes stay byte-for-byte cheap and
/// predictable for load balancers, and the login flow's answers carry tokens and secrets next to
/// values a caller chose, the shape a compression side channel (BREACH) needs.
const EXEMPT: &[&str] = &["/api/v1/health/", "/api/v1/auth/"];

/// tower-http's compression layer: gzip and br only (every client that sends `Accept-Encoding`
/// has one of them), default quality.
fn tower_http_layer() -> CompressionLayer<JsonAbove> {
    CompressionLayer::new()
        .gzip(true)
        .br(true)
        .no_deflate()
        .no_zstd()
        .quality(CompressionLevel::Default)
        .compress_when(JsonAbove(SizeAbove::new(MIN_BYTES)))
}

/// The layer that makes [`Compress`].
#[derive(Clone, Debug)]
pub struct CompressLayer(CompressionLayer<JsonAbove>);

/// The compression layer (docs/API.md, "Compression").
pub fn layer() -> CompressLayer {
    CompressLayer(tower_http_layer())
}

impl<S> Layer<S> for CompressLayer {
    type Service = Compress<S>;

    fn layer(&self, inner: S) -> Compress<S> {
        Compress {
            inner,
            compression: self.0.clone(),
        }
    }
}

/// The service: [`negotiate`] on the way in; on the way out, tower-http's compression for the
/// responses it would change, and nothing for the rest.
///
/// tower-http leaves a response alone (headers and body as they were) when it carries
/// `Content-Encoding` or `Content-Range` or the predicate ([`JsonAbove`]) declines it; it then
/// still wraps the body in its own body type, about 5.9 KB inline (each encoder's state), which
/// was moved twice per response and then copied to the heap (docs/PERFORMANCE.md, "CORS and
/// compression only where they act"). Here such a response passes through as it came; any
/// other is handed to tower-http as it stands, with the request's negotiated
/// `Accept-Encoding`, and its body boxed at once. A test checks the result against
/// tower-http's layer alone, response by response. ([`negotiate`] has removed every refusal of
/// the unencoded form, so tower-http's one answer that does not depend on the response, a 406,
/// cannot happen.)
#[derive(Clone, Debug)]
pub struct Compress<S> {
    inner: S,
    compression: CompressionLayer<JsonAbove>,
}

impl<S> Service<Request> for Compress<S>
where
    S: Service<Request, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = CompressFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let request = negotiate(request);
        CompressFuture::Handling {
            accept: request.headers().get(header::ACCEPT_ENCODING).cloned(),
            compression: self.compression.clone(),
            future: self.inner.call(request),
        }
    }
}

/// tower-http's compression of a response already made.
type Compressing =
    tower_http::compression::ResponseFuture<Ready<Result<Response<Body>, Infallible>>, JsonAbove>;

pin_project! {
    /// [`Compress`]'s future: the service inside, then, for a response tower-http would change,
    /// tower-http's (not boxed: it runs on every request).
    #[project = CompressFutureProj]
    pub enum CompressFuture<F> {
        Handling {
            #[pin]
            future: F,
            accept: Option<HeaderValue>,
            compression: CompressionLayer<JsonAbove>,
        },
        Compressing {
            #[pin]
            future: Compressing,
        },
    }
}

impl<F> Future for CompressFuture<F>
where
    F: Future<Output = Result<Response<Body>, Infallible>>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let compressing = match self.as_mut().project() {
            CompressFutureProj::Handling {
                future,
                accept,
                compression,
            } => {
                let Ok(response) = ready!(future.poll(cx));
                if !compressible(&response) {
                    return Poll::Ready(Ok(response));
                }
                let mut asking = Request::new(());
                if let Some(accept) = accept.take() {
                    asking.headers_mut().insert(header::ACCEPT_ENCODING, accept);
                }
                // `Answer` is always ready, so no `poll_ready` first.
                compression.layer(Answer(Some(response))).call(asking)
            }
            CompressFutureProj::Compressing { future } => {
                let Ok(response) = ready!(future.poll(cx));
                return Poll::Ready(Ok(response.map(Body::new)));
            }
        };
        self.set(CompressFuture::Compressing {
            future: compressing,
        });
        self.poll(cx)
    }
}

/// What tower-http's compression checks before it changes anything.
fn compressible(response: &Response<Body>) -> bool {
    !response.headers().contains_key(header::CONTENT_ENCODING)
        && !response.headers().contains_key(header::CONTENT_RANGE)
        && JsonAbove(SizeAbove::new(MIN_BYTES)).should_compress(response)
}

/// The response already made, as the service tower-http's compression wraps: answers once.
struct Answer(Option<Response<Body>>);

impl Service<Request<()>> for Answer {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        // Called once per response; a second call would have no response left to give.
        futures::future::ready(Ok(self.0.take().unwrap_or_else(|| {
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        })))
    }
}

/// Runs first in [`Compress`] and prepares the request's `Accept-Encoding` for it: removed for
/// an exempt path; otherwise without refusals of the unencoded form (`identity;q=0`, `*;q=0`).
/// tower-http would answer those with 406 *after* the handler ran, hiding a completed write from
/// its caller; Haven sends such a response unencoded instead (RFC 9110 §12.5.3 leaves the
/// choice to the server).
///
/// Nothing to do at all for the common request without the header.
fn negotiate(mut request: Request) -> Request {
    if !request.headers().contains_key(header::ACCEPT_ENCODING) {
        return request;
    }
    let path = request.uri().path();
    let exempt = EXEMPT.iter().any(|prefix| path.starts_with(prefix));
    let kept = (!exempt)
        .then(|| accepted_codings(request.headers().get_all(header::ACCEPT_ENCODING)))
        .flatten();
    let headers = request.headers_mut();
    headers.remove(header::ACCEPT_ENCODING);
    if let Some(kept) = kept.and_then(|kept| HeaderValue::from_str(&kept).ok()) {
        headers.insert(header::ACCEPT_ENCODING, kept);
    }
    request
}

/// The header's entries minus those refusing `identity` or `*`, or `None` when nothing is left.
fn accepted_codings<'a>(values: impl IntoIterator<Item = &'a HeaderValue>) -> Option<String> {
    let kept: Vec<&str> = values
        .into_iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty() && !refuses_unencoded(entry))
        .collect();
    (!kept.is_empty()).then(|| kept.join(", "))
}

/// `identity;q=0` or `*;q=0` (any spacing, case and number of zeros).
fn refuses_unencoded(entry: &str) -> bool {
    let mut parts = entry.split(';').map(str::trim);
    let coding = parts.next().unwrap_or_default();
    let zero = parts.any(|param| {
        param
            .split_once('=')
            .filter(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
            .and_then(|(_, q)| q.trim().parse::<f32>().ok())
            .is_some_and(|q| q == 0.0)
    });
    zero && (coding.eq_ignore_ascii_case("identity") || coding == "*")
}

/// JSON (`application/json`, `application/problem+json`, ...) and NDJSON above the threshold.
#[derive(Clone, Copy, Debug)]
pub struct JsonAbove(SizeAbove);

impl Predicate for JsonAbove {
    fn should_compress<B>(&self, response: &Response<B>) -> bool
    where
        B: axum::body::HttpBody,
    {
        let json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value: &HeaderValue| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|media| {
                let media = media.trim();
                media.eq_ignore_ascii_case("application/json")
                    || media.eq_ignore_ascii_case("application/x-ndjson")
                    || media.to_ascii_lowercase().ends_with("+json")
            })
            .unwrap_or(false);
        json && self.0.should_compress(response)
    }
}

#[cfg(test)]
#[path = "compression_tests.rs"]
mod tests;
