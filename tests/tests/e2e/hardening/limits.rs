//! Size and time limits: the body cap, slow headers, slow handlers, overload and an exhausted
//! database pool each get a prompt answer in the envelope instead of holding the server.

use std::time::{Duration, Instant};

use haven_tests::{eventually, free_port, spawn_app_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{envelope, header};

#[tokio::test]
async fn a_two_mebibyte_body_is_refused_with_413_req_002_in_the_envelope() {
    let app = spawn_app_with(|_| {}).await;
    let body = format!(
        "{{\"code\":\"{}\",\"state\":\"s\"}}",
        "a".repeat(2 * 1024 * 1024)
    );
    let response = app
        .client
        .post(app.url("/api/v1/auth/callback"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, code, _) = envelope(response).await;
    assert_eq!((status, code.as_str()), (413, "REQ_002"));
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_sends_its_headers_slowly_is_cut_off() {
    let app = spawn_app_with(|env| {
        env.insert("HEADER_READ_TIMEOUT_SECONDS".into(), "1".into());
    })
    .await;
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /api/v1/health/live HTTP/1.1\r\nHost: haven\r\n")
        .await
        .unwrap();
    // Slowloris: one more header line every 200 ms, never the blank line that ends them.
    let mut cut_off = false;
    for i in 0..25 {
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(200), slow.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => {
                cut_off = true;
                break;
            }
            Ok(Ok(_)) => panic!("no response is due before the headers end"),
            Err(_) => {}
        }
        if slow
            .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
            .await
            .is_err()
        {
            cut_off = true;
            break;
        }
    }
    let elapsed = started.elapsed();
    assert!(cut_off, "the server kept the slow connection open");
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(3),
        "cut off after {elapsed:?}, expected about 1 s"
    );
    // Meanwhile a normal client is served.
    assert_eq!(app.get("/api/v1/health/live").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_handler_slower_than_the_request_timeout_gets_504_req_004() {
    let app = spawn_app_with(|env| {
        env.insert("REQUEST_TIMEOUT_SECONDS".into(), "2".into());
    })
    .await;
    let started = Instant::now();
    let (status, code, _) = envelope(app.get("/api/v1/_test/sleep?ms=8000").await).await;
    assert_eq!((status, code.as_str()), (504, "REQ_004"));
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_client_too_slow_to_send_its_body_gets_408_req_006_not_a_504() {
    let app = spawn_app_with(|env| {
        env.insert("REQUEST_TIMEOUT_SECONDS".into(), "2".into());
        env.insert("LOG_LEVEL".into(), "info".into());
    })
    .await;
    let mut client = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap();
    // Headers promise 100 bytes; 10 arrive, the rest never does.
    client
        .write_all(
            b"POST /api/v1/auth/callback HTTP/1.1\r\nHost: haven\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"code\":\"",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0_u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&answer).contains("}}") {
            match client.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "the server answered within the request timeout"
    );
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"REQ_006\""), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("x-request-id:"),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test]
async fn overload_beyond_the_concurrency_cap_is_shed_at_once_while_requests_within_it_succeed() {
    let metrics_port = free_port();
    let app = spawn_app_with(|env| {
        env.insert("MAX_CONCURRENT_REQUESTS".into(), "3".into());
        env.insert("RATE_LIMIT_ENABLED".into(), "false".into());
        env.insert("METRICS_PORT".into(), metrics_port.to_string());
    })
    .await;
    let within: Vec<_> = (0..3)
        .map(|_| {
            let request = app
                .client
                .get(app.url("/api/v1/_test/sleep?ms=8000"))
                .send();
            tokio::spawn(async move {
                let response = request.await?;
                Ok::<_, reqwest::Error>((response.status().as_u16(), response.text().await?))
            })
        })
        .collect();
    // Wait until the server itself counts all three in flight (its gauge, on the private port),
    // so the next request is the fourth whatever the scheduling of the three sends.
    let gauge = format!("http://127.0.0.1:{metrics_port}/metrics");
    let all_held = eventually(Duration::from_secs(6), || async {
        let Ok(scrape) = app.client.get(&gauge).send().await else {
            return false;
        };
        let text = scrape.text().await.unwrap_or_default();
        text.lines().any(|line| line == "http_requests_in_flight 3")
    })
    .await;
    assert!(all_held, "the three in-cap requests hold their slots");
    let started = Instant::now();
    let response = app.get("/api/v1/_test/sleep?ms=0").await;
    let took = started.elapsed();
    // Queued, it would wait for a slot: the in-cap requests sleep 8 s.
    assert!(
        took < Duration::from_secs(4),
        "shed at once, not queued: {took:?}"
    );
    let (status, code, headers) = envelope(response).await;
    assert_eq!((status, code.as_str()), (503, "SYS_004"));
    assert_eq!(header(&headers, "retry-after"), "1");
    // Health probes are never shed.
    assert_eq!(app.get("/api/v1/health/live").await.status(), 200);
    for request in within {
        let (status, body) = request
            .await
            .unwrap()
            .expect("the in-cap request completes");
        assert_eq!((status, body.as_str()), (200, "slept"));
    }
    assert_eq!(app.get("/api/v1/_test/sleep?ms=0").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn an_exhausted_database_pool_answers_503_sys_001_after_the_acquire_timeout() {
    let app = spawn_app_with(|env| {
        env.insert("DB_MAX_CONNECTIONS".into(), "1".into());
        env.insert("DB_ACQUIRE_TIMEOUT_SECONDS".into(), "1".into());
    })
    .await;
    let holder = {
        let request = app
            .client
            .get(app.url("/api/v1/_test/hold-db?ms=4000"))
            .send();
        tokio::spawn(async move { request.await.map(|r| r.status().as_u16()) })
    };
    let observer = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    assert!(
        eventually(Duration::from_secs(5), || {
            let observer = observer.clone();
            async move {
                let held: i64 = sqlx::query_scalar(
                    "select count(*) from pg_stat_activity \
                     where datname = current_database() and query like 'select pg_sleep%'",
                )
                .fetch_one(&observer)
                .await
                .unwrap();
                held == 1
            }
        })
        .await,
        "the only pooled connection is held"
    );
    let started = Instant::now();
    let (status, code, headers) = envelope(app.get("/api/v1/_test/hold-db?ms=0").await).await;
    assert_eq!((status, code.as_str()), (503, "SYS_001"));
    assert!(!header(&headers, "retry-after").is_empty());
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "answered after the 1 s acquire timeout, not a hang: {took:?}"
    );
    assert_eq!(holder.await.unwrap().unwrap(), 200);
    app.stop().await;
}
