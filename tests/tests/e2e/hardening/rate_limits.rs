//! Rate limits: per client IP for anonymous requests and authentication failures, per subject
//! and tenant for authenticated ones; 429 in the envelope with Retry-After and the RateLimit
//! headers; probes exempt; recovery once the budget refills.

use std::time::Duration;

use haven_tests::idp::{CLIENT_ID, Idp};
use haven_tests::{TestApp, eventually, spawn_app_with};
use serde_json::json;

use super::{envelope, header};

async fn app_with(idp: Option<&Idp>, settings: &[(&str, &str)]) -> TestApp {
    let issuer = idp.map(|idp| idp.issuer.clone());
    let settings: Vec<(String, String)> = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let app = spawn_app_with(move |env| {
        env.extend(settings);
        // The test client is "the proxy": X-Forwarded-For picks the client address.
        env.insert("TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
        if let Some(issuer) = issuer {
            env.insert("OIDC_ISSUER_URL".into(), issuer);
            env.insert("OIDC_CLIENT_ID".into(), CLIENT_ID.into());
        }
    })
    .await;
    let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    haven_db::tenants::admin_create(&pool, "org-1", "Org One")
        .await
        .unwrap();
    pool.close().await;
    if let Some(idp) = idp {
        let warmup = idp.token(json!({"claims": {"sub": "warmup"}})).await;
        super::wait_for_token_checks(&app.client, &app.address, &warmup).await;
    }
    app
}

async fn get_as(app: &TestApp, client: &str, token: Option<&str>, path: &str) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url(path))
        .header("x-forwarded-for", client);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn an_anonymous_burst_over_the_limit_gets_429_with_retry_after_and_then_recovers() {
    let app = app_with(
        None,
        &[
            ("RATE_LIMIT_ANON_PER_MINUTE", "60"),
            ("RATE_LIMIT_ANON_BURST", "3"),
        ],
    )
    .await;
    let client = "198.51.100.1";
    for remaining in ["2", "1", "0"] {
        let response = get_as(&app, client, None, "/api/v1/_test/sleep?ms=0").await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(response.headers(), "ratelimit-limit"), "3");
        assert_eq!(header(response.headers(), "ratelimit-remaining"), remaining);
        assert!(!header(response.headers(), "ratelimit-reset").is_empty());
    }
    let (status, code, headers) =
        envelope(get_as(&app, client, None, "/api/v1/_test/sleep?ms=0").await).await;
    assert_eq!((status, code.as_str()), (429, "RATE_001"));
    assert_eq!(header(&headers, "retry-after"), "1");
    assert_eq!(header(&headers, "ratelimit-remaining"), "0");
    // Probes are exempt, by exact path: nothing else under /health/ is.
    let probe = get_as(&app, client, None, "/api/v1/health/live").await;
    assert_eq!(probe.status(), 200);
    for not_a_probe in ["/api/v1/health/live/", "/api/v1/health/other"] {
        let (status, code, _) = envelope(get_as(&app, client, None, not_a_probe).await).await;
        assert_eq!((status, code.as_str()), (429, "RATE_001"), "{not_a_probe}");
    }
    let other = get_as(&app, "198.51.100.2", None, "/api/v1/_test/sleep?ms=0").await;
    assert_eq!(other.status(), 200);
    // One request a second refills: the client is served again within Retry-After.
    let recovered = eventually(Duration::from_secs(3), || {
        let request = get_as(&app, client, None, "/api/v1/_test/sleep?ms=0");
        async move { request.await.status() == 200 }
    })
    .await;
    assert!(recovered, "the budget refills");
    app.stop().await;
}

#[tokio::test]
async fn repeated_authentication_failures_from_one_ip_are_refused_before_tokens_are_checked() {
    let idp = Idp::start();
    let app = app_with(
        Some(&idp),
        &[
            ("RATE_LIMIT_ANON_PER_MINUTE", "6"),
            ("RATE_LIMIT_ANON_BURST", "3"),
        ],
    )
    .await;
    let good = idp.token(json!({"claims": {"sub": "alice"}})).await;
    let attacker = "203.0.113.66";
    for _ in 0..3 {
        let (status, code, _) =
            envelope(get_as(&app, attacker, Some("not.a.jwt"), "/api/v1/me").await).await;
        assert_eq!((status, code.as_str()), (401, "AUTH_001"));
    }
    let (status, code, headers) =
        envelope(get_as(&app, attacker, Some("still.not.valid"), "/api/v1/me").await).await;
    assert_eq!((status, code.as_str()), (429, "RATE_001"));
    let retry_after: u64 = header(&headers, "retry-after").parse().unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    // While throttled, even a good token from that address is refused unchecked...
    let (status, code, _) = envelope(get_as(&app, attacker, Some(&good), "/api/v1/me").await).await;
    assert_eq!((status, code.as_str()), (429, "RATE_001"));
    // ...and a credential-shaped header does not dodge the anonymous budget.
    let public = get_as(&app, attacker, Some("x"), "/api/v1/_test/sleep?ms=0").await;
    assert_eq!(public.status(), 429);
    // The same user from another address is served.
    let elsewhere = get_as(&app, "198.51.100.7", Some(&good), "/api/v1/me").await;
    assert_eq!(elsewhere.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn an_authenticated_subject_over_its_limit_gets_429_while_other_subjects_are_served() {
    let idp = Idp::start();
    let app = app_with(
        Some(&idp),
        &[
            ("RATE_LIMIT_PER_MINUTE", "60"),
            ("RATE_LIMIT_BURST", "3"),
            // Authenticated requests must not spend the (tiny) anonymous budget.
            ("RATE_LIMIT_ANON_BURST", "1"),
            ("RATE_LIMIT_ANON_PER_MINUTE", "1"),
        ],
    )
    .await;
    let alice = idp.token(json!({"claims": {"sub": "alice"}})).await;
    let bob = idp.token(json!({"claims": {"sub": "bob"}})).await;
    let office = "198.51.100.20";
    for remaining in ["2", "1", "0"] {
        let response = get_as(&app, office, Some(&alice), "/api/v1/me").await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(response.headers(), "ratelimit-limit"), "3");
        assert_eq!(header(response.headers(), "ratelimit-remaining"), remaining);
    }
    let (status, code, headers) =
        envelope(get_as(&app, office, Some(&alice), "/api/v1/me").await).await;
    assert_eq!((status, code.as_str()), (429, "RATE_001"));
    assert_eq!(header(&headers, "retry-after"), "1");
    // A colleague behind the same address has a budget of their own.
    let colleague = get_as(&app, office, Some(&bob), "/api/v1/me").await;
    assert_eq!(colleague.status(), 200);
    let recovered = eventually(Duration::from_secs(3), || {
        let request = get_as(&app, office, Some(&alice), "/api/v1/me");
        async move { request.await.status() == 200 }
    })
    .await;
    assert!(recovered, "alice's budget refills");
    app.stop().await;
}
