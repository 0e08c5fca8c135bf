//! Prometheus metrics on the private listener only: request counts and latency by route
//! template and status, pool, JWKS, authentication failures by code, rate limiting; never a
//! tenant or user id.

use std::collections::HashMap;
use std::time::Duration;

use haven_tests::idp::{CLIENT_ID, Idp};
use haven_tests::{HavenProcess, TestDatabase, app::base_env, free_port};
use serde_json::{Value, json};

#[tokio::test]
async fn metrics_are_served_on_the_private_port_only_by_route_template_and_without_ids() {
    let idp = Idp::start();
    let db = TestDatabase::create().await;
    let metrics_port = free_port();
    let mut env = base_env(&db.url);
    env.insert("OIDC_ISSUER_URL".into(), idp.issuer.clone());
    env.insert("OIDC_CLIENT_ID".into(), CLIENT_ID.into());
    env.insert("METRICS_PORT".into(), metrics_port.to_string());
    env.insert("RATE_LIMIT_ANON_BURST".into(), "5".into());
    // The warm-up below sends as a client of its own (X-Forwarded-For from a trusted peer).
    env.insert("TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
    // So the unknown-kid refetch below may reach the (failing) JWKS soon.
    env.insert("JWKS_UNKNOWN_KID_COOLDOWN_SECONDS".into(), "1".into());
    let service = HavenProcess::spawn(&["serve"], &env);
    assert!(
        service.wait_ready(Duration::from_secs(20)).await,
        "{:?}",
        service.stderr_lines()
    );
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    haven_db::tenants::admin_create(&pool, "org-1", "Org One")
        .await
        .unwrap();
    let token = idp.token(json!({"claims": {"sub": "alice"}})).await;
    let client = reqwest::Client::new();
    let warmup = idp.token(json!({"claims": {"sub": "warmup"}})).await;
    let base = service.url("");
    crate::hardening::wait_for_token_checks(&client, &base, &warmup).await;

    let me: Value = client
        .get(service.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_id = me["user_id"].as_str().expect("user id").to_owned();
    let tenant_id = me["tenant_id"].as_str().expect("tenant id").to_owned();
    // An audited read: one `document.list` event, written and committed.
    let listed = client
        .get(service.url("/api/v1/documents"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let document_like = "/api/v1/me/0b7c2f7e-3c1e-4a55-9a57-1f1fbd1b5b1d";
    // /metrics on the public port is just another unknown path.
    for path in [document_like, "/api/v1/no-such-route", "/metrics"] {
        let response = client.get(service.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let bad = client
        .get(service.url("/api/v1/me"))
        .bearer_auth("not.a.jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let mut limited = false;
    for _ in 0..10 {
        let response = client
            .get(service.url("/api/v1/_test/sleep?ms=0"))
            .send()
            .await;
        if response.unwrap().status() == 429 {
            limited = true;
            break;
        }
    }
    assert!(limited, "the anonymous budget ran out");

    let scrape = client
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    assert!(
        scrape.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = scrape.text().await.unwrap();
    for expected in [
        r#"http_requests_total{method="GET",route="/api/v1/me",status="200"} 1"#,
        r#"http_requests_total{method="GET",route="unmatched",status="404"} 3"#,
        r#"http_request_duration_seconds_bucket{method="GET",route="/api/v1/me",status="200",le="0.25"}"#,
        r#"auth_failures_total{code="AUTH_001"} 1"#,
        r#"http_rate_limited_total{scope="ip"} 1"#,
        r#"db_pool_connections{state="idle"}"#,
        r#"db_pool_max_connections 10"#,
        "jwks_fetches_total",
        "jwks_fetch_failures_total 0",
        "auth_token_cache_hits_total",
        "oidc_discovery_ready 1",
        r#"audit_events_written_total{action="document.list",outcome="success"} 1"#,
    ] {
        assert!(text.contains(expected), "missing {expected}:\n{text}");
    }
    // The sealer sets the backlog gauges after each round (every second).
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let gauges = haven_tests::eventually(std::time::Duration::from_secs(10), || async {
        let text = client
            .get(&metrics_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.contains("audit_unsealed_events ") && text.contains("audit_seal_lag_seconds ")
    })
    .await;
    assert!(gauges, "the sealing backlog gauges are exported");
    for secret in [
        user_id.as_str(),
        tenant_id.as_str(),
        "alice",
        "org-1",
        "0b7c2f7e",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into metrics");
    }

    // The JWKS goes down; a token with a key the cache lacks makes the service refetch (once
    // the cooldown allows), fail, and answer 503. Each try comes from an address of its own,
    // so the per-IP failure budget used up above does not answer instead.
    idp.fail(json!({"jwks": true})).await;
    let unknown_kid = idp.token(json!({"kid": "rotated-away-key"})).await;
    let mut attempt = 0u32;
    let refetch_failed = haven_tests::eventually(Duration::from_secs(15), || {
        attempt += 1;
        let request = client
            .get(service.url("/api/v1/me"))
            .bearer_auth(&unknown_kid)
            .header(
                "x-forwarded-for",
                format!("198.51.100.{}", attempt % 250 + 1),
            )
            .send();
        async move { matches!(request.await, Ok(r) if r.status() == 503) }
    })
    .await;
    assert!(refetch_failed, "the failed refetch was answered 503");
    let text = client
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let failures = text
        .lines()
        .find_map(|l| l.strip_prefix("jwks_fetch_failures_total "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(
        failures.is_some_and(|n| n >= 1.0),
        "jwks_fetch_failures_total counts the failed refetch:\n{text}"
    );
}

#[tokio::test]
async fn a_metrics_port_equal_to_the_public_port_is_refused_at_start() {
    let port = free_port().to_string();
    let env: HashMap<String, String> = [
        ("DATABASE_URL", "postgres://x@127.0.0.1/x"),
        ("PORT", port.as_str()),
        ("METRICS_PORT", port.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut process = HavenProcess::spawn(&["serve"], &env);
    let status = process
        .wait_exit(Duration::from_secs(5))
        .expect("exits promptly");
    assert!(!status.success());
    let stderr = process.stderr_lines();
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(stderr[0].contains("METRICS_PORT"), "{stderr:?}");
}
