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
        if value["message"] == "request completed" && value["request_id"] == "log-test-1" {
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
        assert_eq!(line["request_id"], "log-test-1");
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
