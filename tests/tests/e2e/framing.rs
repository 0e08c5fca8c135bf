//! Where the envelope stops: requests that are not valid HTTP/1.1 are answered by hyper itself
//! (no envelope, no request id, connection closed), as docs/API.md says; a request that parses,
//! however bad, gets the envelope and a request id.

use std::time::Duration;

use haven_tests::spawn_app;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `raw` on a fresh connection and reads until the server closes it (or 10 s pass).
async fn exchange(port: u16, raw: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(raw).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn http_framing_errors_are_answered_by_hyper_without_the_envelope() {
    let app = spawn_app().await;
    let huge = format!(
        "GET /api/v1/health/live HTTP/1.1\r\nHost: h\r\nX-Big: {}\r\n\r\n",
        "a".repeat(512 * 1024)
    );
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "two Content-Length values",
            b"POST /api/v1/auth/callback HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\
              Content-Length: 3\r\nConnection: close\r\n\r\n{}",
            "HTTP/1.1 400",
        ),
        (
            "obsolete line folding",
            b"GET /api/v1/health/live HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\
              Connection: close\r\n\r\n",
            "HTTP/1.1 400",
        ),
        ("headers beyond the buffer", huge.as_bytes(), "HTTP/1.1 431"),
    ];
    for (what, raw, status) in cases {
        let answer = exchange(app.port, raw).await;
        assert!(answer.starts_with(status), "{what}: {answer:?}");
        let lower = answer.to_ascii_lowercase();
        assert!(!lower.contains("x-request-id"), "{what}: {answer:?}");
        assert!(!answer.contains("\"error\""), "{what}: {answer:?}");
    }
    // A request that parses gets the envelope and an id, however bad its content.
    let answer = exchange(
        app.port,
        b"POST /api/v1/auth/callback HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n\
          Content-Length: 3\r\nConnection: close\r\n\r\n{x}",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    assert!(
        answer.to_ascii_lowercase().contains("x-request-id:"),
        "{answer:?}"
    );
    assert!(answer.contains("\"REQ_005\""), "{answer:?}");
    app.stop().await;
}
