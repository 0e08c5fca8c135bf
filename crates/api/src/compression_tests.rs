//! Unit tests of response compression.

use super::*;
use axum::body::Bytes;
use tower::{ServiceBuilder, ServiceExt};

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

/// Response `kind` of the matrix below, made afresh for each request.
fn response(kind: usize) -> Response<Body> {
    let large = format!("[{}]", vec!["{\"field\":\"value\"}"; 120].join(","));
    let json = |body: String| {
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("a valid response")
    };
    match kind {
        0 => json("{\"status\":\"ok\"}".to_owned()),
        1 => json(large),
        2 => {
            let mut response = json(large);
            let value = HeaderValue::from_static("application/problem+json");
            response.headers_mut().insert(header::CONTENT_TYPE, value);
            response
        }
        3 => {
            let chunks = ["{\"a\":1}\n", "{\"b\":2}\n"].map(Ok::<_, Infallible>);
            Response::builder()
                .header(header::CONTENT_TYPE, "application/x-ndjson")
                .body(Body::from_stream(futures::stream::iter(chunks)))
                .expect("a valid response")
        }
        4 => {
            let mut response = json(large);
            let value = HeaderValue::from_static("text/plain");
            response.headers_mut().insert(header::CONTENT_TYPE, value);
            response
        }
        5 => {
            let mut response = json(large);
            let value = HeaderValue::from_static("gzip");
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, value);
            response
        }
        6 => {
            let mut response = json(large);
            let value = HeaderValue::from_static("bytes 0-99/2000");
            response.headers_mut().insert(header::CONTENT_RANGE, value);
            response
        }
        _ => {
            let mut response = json(large);
            response
                .headers_mut()
                .insert(header::VARY, HeaderValue::from_static("origin"));
            response
        }
    }
}

/// Status, every header in order, and the body's bytes.
async fn seen(response: Response<Body>) -> (u16, Vec<(String, Vec<u8>)>, Bytes) {
    let (parts, body) = response.into_parts();
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("the body is readable");
    (parts.status.as_u16(), headers, body)
}

#[tokio::test]
async fn every_response_is_what_tower_http_compression_alone_makes_of_it() {
    let paths = [
        "/api/v1/documents",
        "/api/v1/health/live",
        "/api/v1/auth/token",
    ];
    let accepts = [
        None,
        Some("gzip"),
        Some("br"),
        Some("gzip, br"),
        Some("br;q=0.5, gzip"),
        Some("identity"),
        Some("identity;q=0"),
        Some("*;q=0, gzip"),
        Some("deflate"),
    ];
    let mut compressed = 0;
    for path in paths {
        for accept in accepts {
            for kind in 0..8 {
                let request = || {
                    let mut request = Request::builder().uri(path);
                    if let Some(accept) = accept {
                        request = request.header(header::ACCEPT_ENCODING, accept);
                    }
                    request.body(Body::empty()).expect("a valid request")
                };
                let handler = tower::service_fn(move |_: Request| async move {
                    Ok::<_, Infallible>(response(kind))
                });
                let alone = ServiceBuilder::new()
                    .map_response(|response: Response<_>| response.map(Body::new))
                    .map_request(negotiate)
                    .layer(tower_http_layer())
                    .service(handler);
                let Ok(alone) = alone.oneshot(request()).await;
                let Ok(ours) = layer().layer(handler).oneshot(request()).await;
                let (expected, got) = (seen(alone).await, seen(ours).await);
                assert_eq!(
                    got, expected,
                    "{path}, Accept-Encoding {accept:?}, response {kind}"
                );
                let encoded = got.1.iter().any(|(name, _)| name == "content-encoding");
                compressed += usize::from(encoded && kind != 5);
            }
        }
    }
    // The matrix reaches the compressing path, not only the one passing through.
    assert!(compressed >= 20, "{compressed}");
}
