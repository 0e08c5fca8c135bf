//! The real binary's stdout: JSON lines, the contract's fields at the top level, no secrets.

use std::time::Duration;

use haven_tests::{HavenProcess, TestDatabase, app::base_env};
use serde_json::Value;

#[tokio::test]
async fn every_stdout_line_is_json_with_top_level_fields_and_no_query_or_token() {
    let db = TestDatabase::create().await;
    let mut env = base_env(&db.url);
    env.insert("LOG_LEVEL".into(), "debug".into());
    let mut service = HavenProcess::spawn(&["serve"], &env);
    assert!(service.wait_ready(Duration::from_secs(20)).await);

    let query_secret = "qs-secret-7f3a9";
    let token_secret = "tok-secret-b81c2";
    let client = reqwest::Client::new();
    for path in [
        "/api/v1/health/live",
        "/api/v1/health/ready",
        "/api/v1/missing",
        "/api/v1/_test/panic",
    ] {
        let response = client
            .get(service.url(&format!("{path}?password={query_secret}")))
            .header("authorization", format!("Bearer {token_secret}"))
            .header("cookie", format!("session={token_secret}"))
            .header("x-request-id", "log-test-1")
            .send()
            .await
            .unwrap();
        assert!(response.status().as_u16() > 0);
    }
    service.signal("TERM");
    assert!(service.wait_exit(Duration::from_secs(10)).is_some());

    let lines = service.stdout_lines();
    assert!(!lines.is_empty());
    let mut request_lines = Vec::new();
    for line in &lines {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for field in ["timestamp", "level", "message", "target"] {
            assert!(value.get(field).is_some(), "{field} missing: {line}");
        }
        let stamp = value["timestamp"].as_str().unwrap();
        assert!(
            stamp.ends_with('Z') && stamp.contains('T'),
            "RFC 3339 UTC: {stamp}"
        );
        // wait_ready's own probes are requests too; count only this test's.
        if value["message"] == "request completed" && value["client_request_id"] == "log-test-1" {
            request_lines.push(value);
        }
    }
    assert_eq!(request_lines.len(), 4, "one line per request: {lines:#?}");
    for line in &request_lines {
        for field in ["request_id", "method", "status", "duration_ms"] {
            assert!(
                line.get(field).is_some(),
                "{field} missing at the top level: {line}"
            );
        }
        // The server's own id; the client's is logged beside it.
        assert_eq!(
            line["request_id"].as_str().map(str::len),
            Some(36),
            "{line}"
        );
        assert!(
            line.get("span").is_none()
                && line.get("spans").is_none()
                && line.get("fields").is_none()
        );
    }
    let live = request_lines
        .iter()
        .find(|l| l["route"] == "/api/v1/health/live")
        .expect("route template");
    assert_eq!(live["status"], 200);
    let missing = request_lines.iter().find(|l| l["status"] == 404).unwrap();
    assert_eq!(missing["error_code"], "RES_001");
    let panicked = request_lines.iter().find(|l| l["status"] == 500).unwrap();
    assert_eq!(panicked["error_code"], "SYS_003");

    let everything = format!(
        "{}\n{}",
        lines.join("\n"),
        service.stderr_lines().join("\n")
    );
    assert!(
        !everything.contains(query_secret),
        "a query string reached the logs"
    );
    assert!(
        !everything.contains(token_secret),
        "an Authorization or Cookie value reached the logs"
    );
    assert!(
        !everything.contains("password="),
        "a query string reached the logs"
    );
}

#[tokio::test]
async fn an_authentication_failure_is_logged_once_at_info_with_its_request_id_and_code_never_the_token()
 {
    let idp = haven_tests::idp::Idp::start();
    let db = TestDatabase::create().await;
    let mut env = base_env(&db.url);
    // Debug, so a second line about the same failure at any level would show up too.
    env.insert("LOG_LEVEL".into(), "debug".into());
    env.insert("OIDC_ISSUER_URL".into(), idp.issuer.clone());
    env.insert("OIDC_CLIENT_ID".into(), haven_tests::idp::CLIENT_ID.into());
    let mut service = HavenProcess::spawn(&["serve"], &env);
    assert!(service.wait_ready(Duration::from_secs(20)).await);
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    haven_db::tenants::admin_create(&pool, "org-1", "Org One")
        .await
        .unwrap();
    pool.close().await;
    let client = reqwest::Client::new();
    let warmup = idp.token(serde_json::json!({})).await;
    crate::hardening::wait_for_token_checks(&client, &service.url(""), &warmup).await;

    // Properly signed by the real provider, refused for its content: the most token-like a
    // refused token gets. One refused at the token (401), one at its tenant (403).
    let wrong_audience = idp
        .token(serde_json::json!({"claims": {"aud": "someone-else"}}))
        .await;
    let unknown_tenant = idp
        .token(serde_json::json!({"claims": {"tenant_id": "org-nobody"}}))
        .await;
    let mut answered = Vec::new();
    for (token, status, code) in [
        (&wrong_audience, 401, "AUTH_001"),
        (&unknown_tenant, 403, "TENANT_001"),
    ] {
        let response = client
            .get(service.url("/api/v1/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status);
        let request_id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        answered.push((token, request_id, code));
    }
    service.signal("TERM");
    assert!(service.wait_exit(Duration::from_secs(10)).is_some());

    let lines = service.stdout_lines();
    for (_, request_id, code) in &answered {
        let failures: Vec<Value> = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["request_id"] == request_id.as_str())
            .filter(|v| v["message"] == "authentication failed")
            .collect();
        assert_eq!(
            failures.len(),
            1,
            "one line for the failure of {request_id}: {lines:#?}"
        );
        let line = &failures[0];
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(line["error_code"], *code, "{line}");
        assert!(line["reason"].is_string(), "{line}");
    }
    let everything = format!(
        "{}\n{}",
        lines.join("\n"),
        service.stderr_lines().join("\n")
    );
    for (token, _, _) in &answered {
        // Neither the token nor its payload or signature on their own.
        for part in std::iter::once(token.as_str()).chain(token.split('.').skip(1)) {
            assert!(!everything.contains(part), "token text reached the logs");
        }
    }
}
