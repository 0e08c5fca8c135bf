//! Response compression as negotiated by `Accept-Encoding`: JSON and NDJSON above the threshold
//! in gzip or br, as they are otherwise; probes and small bodies never.

use std::io::Read;

use reqwest::Method;
use serde_json::Value;

use crate::documents::support::{World, new_doc};

/// Decodes a body by its `Content-Encoding`.
fn decode(encoding: Option<&str>, bytes: &[u8]) -> String {
    let mut text = String::new();
    match encoding {
        None => text = String::from_utf8(bytes.to_vec()).unwrap(),
        Some("gzip") => {
            flate2::read::GzDecoder::new(bytes)
                .read_to_string(&mut text)
                .unwrap();
        }
        Some("br") => {
            brotli::Decompressor::new(bytes, 4096)
                .read_to_string(&mut text)
                .unwrap();
        }
        Some(other) => panic!("unexpected Content-Encoding {other}"),
    }
    text
}

/// GET `path` with `accept_encoding` (none when `None`); the encoding used and the decoded body.
async fn fetch(
    w: &World,
    token: &str,
    path: &str,
    accept: &str,
    accept_encoding: Option<&str>,
) -> (Option<String>, String) {
    let mut request = w.request(Method::GET, path, token).header("accept", accept);
    if let Some(value) = accept_encoding {
        request = request.header("accept-encoding", value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    let encoding = response
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_owned());
    if encoding.is_some() {
        // CORS adds its own Vary line; the compression layer adds another.
        let vary: Vec<String> = response
            .headers()
            .get_all("vary")
            .iter()
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
            .collect();
        assert!(
            vary.iter().any(|v| v.contains("accept-encoding")),
            "a compressed answer varies by Accept-Encoding: {vary:?}"
        );
    }
    let bytes = response.bytes().await.unwrap();
    let text = decode(encoding.as_deref(), &bytes);
    (encoding, text)
}

#[tokio::test]
async fn json_and_ndjson_above_the_threshold_are_compressed_as_the_client_negotiates() {
    let w = World::start(&["org-1"]).await;
    let admin = w.token("org-1", "ada", &["admin"]).await;
    for i in 0..20 {
        w.create(&admin, &new_doc(&format!("Compressible document {i}")))
            .await;
    }
    let list = "/api/v1/documents?limit=20";
    let (plain_encoding, plain) = fetch(&w, &admin, list, "application/json", None).await;
    assert_eq!(plain_encoding, None, "no Accept-Encoding: sent as it is");
    assert!(plain.len() > 1024, "the list is above the threshold");
    let plain: Value = serde_json::from_str(&plain).unwrap();

    let cases = [
        ("gzip", Some("gzip")),
        ("br", Some("br")),
        ("gzip, br", Some("br")),
        ("br;q=0.5, gzip;q=1.0", Some("gzip")),
        ("gzip, identity;q=0", Some("gzip")),
        ("gzip;q=0, br;q=0", None),
        ("identity", None),
        ("deflate", None),
    ];
    for (accept_encoding, expected) in cases {
        let (encoding, text) =
            fetch(&w, &admin, list, "application/json", Some(accept_encoding)).await;
        assert_eq!(
            encoding.as_deref(),
            expected,
            "Accept-Encoding: {accept_encoding}"
        );
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            body, plain,
            "Accept-Encoding: {accept_encoding}: the same document"
        );
    }

    // Refusing the unencoded form and naming no coding Haven has: the request has run, so the
    // answer is its own status, unencoded, never a 406 that would hide a completed write.
    for refusal in ["identity;q=0", "*;q=0"] {
        let (encoding, _) = fetch(&w, &admin, list, "application/json", Some(refusal)).await;
        assert_eq!(encoding, None, "{refusal}");
        let created = w
            .request(Method::POST, "/api/v1/documents", &admin)
            .header("accept-encoding", refusal)
            .json(&new_doc("Written whatever the encoding"))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201, "{refusal}");
    }

    // The streamed NDJSON export (no known length) is compressed too, line for line the same.
    let export = "/api/v1/audit-events?action=document.create";
    let (_, lines) = fetch(&w, &admin, export, "application/x-ndjson", None).await;
    let (encoding, gz_lines) =
        fetch(&w, &admin, export, "application/x-ndjson", Some("gzip")).await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    assert_eq!(gz_lines, lines);
    assert_eq!(lines.lines().count(), 22);
}

#[tokio::test]
async fn probes_and_small_bodies_are_never_compressed() {
    let w = World::start(&["org-1"]).await;
    let admin = w.token("org-1", "ada", &["admin"]).await;
    for path in ["/api/v1/health/live", "/api/v1/health/ready"] {
        let response = w
            .app
            .client
            .get(w.app.url(path))
            .header("accept-encoding", "gzip, br")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(
            response.headers().get("content-encoding").is_none(),
            "{path}"
        );
    }
    // /me is a few hundred bytes: below the threshold.
    let (encoding, _) = fetch(
        &w,
        &admin,
        "/api/v1/me",
        "application/json",
        Some("gzip, br"),
    )
    .await;
    assert_eq!(encoding, None);
}
