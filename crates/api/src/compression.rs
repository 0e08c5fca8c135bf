//! Response compression: gzip or br, as the client's `Accept-Encoding` prefers, for JSON and
//! NDJSON bodies above a size threshold; never for probes or the login flow's answers.

use axum::BoxError;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, Response, header};
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

/// The compression layer: gzip and br only (every client that sends `Accept-Encoding` has one of
/// them), default quality.
pub fn layer() -> CompressionLayer<JsonAbove> {
    CompressionLayer::new()
        .gzip(true)
        .br(true)
        .no_deflate()
        .no_zstd()
        .quality(CompressionLevel::Default)
        .compress_when(JsonAbove(SizeAbove::new(MIN_BYTES)))
}

/// Runs outermost, just outside [`negotiate`]: the body [`layer`] answers with is about 5.8 KB
/// inline whether it compresses or not (each encoder's state is part of it), and hyper moves a
/// response whole several times on its way out; moved to the heap once here, it is a pointer
/// from then on (docs/PERFORMANCE.md, "The response body boxed once").
pub fn boxed_body<B>(response: Response<B>) -> Response<Body>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    response.map(Body::new)
}

/// Runs just outside [`layer`] and prepares the request's `Accept-Encoding` for it: removed for
/// an exempt path; otherwise without refusals of the unencoded form (`identity;q=0`, `*;q=0`).
/// The layer would answer those with 406 *after* the handler ran, hiding a completed write from
/// its caller; Haven sends such a response unencoded instead (RFC 9110 §12.5.3 leaves the
/// choice to the server).
///
/// A plain function for `ServiceBuilder::map_request`: no middleware future, no clone of the
/// stack inside, and nothing to do at all for the common request without the header.
pub fn negotiate(mut request: Request) -> Request {
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
mod tests {
    use super::*;

    fn kept(header: &str) -> Option<String> {
        accepted_codings([&HeaderValue::from_str(header).unwrap()])
    }

    #[test]
    fn refusals_of_the_unencoded_form_are_dropped_and_everything_else_kept() {
        assert_eq!(kept("gzip, identity;q=0").as_deref(), Some("gzip"));
        assert_eq!(kept("identity;q=0"), None);
        assert_eq!(kept("*;q=0, IDENTITY ; Q=0.000"), None);
        assert_eq!(
            kept("br;q=0.5, gzip;q=0").as_deref(),
            Some("br;q=0.5, gzip;q=0")
        );
        assert_eq!(kept("identity;q=0.5").as_deref(), Some("identity;q=0.5"));
        assert_eq!(kept("*").as_deref(), Some("*"));
    }
}
