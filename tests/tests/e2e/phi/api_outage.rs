//! KMS unreachable, over HTTP against the real binary (`PHI_ENCRYPTION=kms`, KMS reached
//! through a switch the test can cut): a tenant whose key the process holds keeps getting 200;
//! a tenant it has never had a key for gets 503 `PHI_002` with `Retry-After`, and the refusal is
//! on its audit trail; once KMS answers again the same process serves it, without a restart.

use std::collections::HashMap;
use std::time::Duration;

use haven_tests::idp::{CLIENT_ID, Idp};
use haven_tests::world::new_patient;
use haven_tests::{HavenProcess, TestDatabase};
use serde_json::{Value, json};

use super::support::{Kms, Switch};

/// Runs `haven <args>` to completion, expecting success.
fn operator(args: &[&str], env: &HashMap<String, String>) {
    let mut process = HavenProcess::spawn(args, env);
    let status = process
        .wait_exit(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("haven {args:?} did not exit"));
    assert_eq!(
        status.code(),
        Some(0),
        "haven {args:?}: {}",
        process.stderr_lines().join("\n")
    );
}

/// (status, body, Retry-After, X-Request-ID) of one call.
async fn call(
    server: &HavenProcess,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value, Option<String>, String) {
    let mut request = reqwest::Client::new()
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("the server answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (retry_after, request_id) = (header("retry-after"), header("x-request-id"));
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, retry_after, request_id.unwrap_or_default())
}

#[tokio::test]
async fn with_kms_unreachable_the_api_serves_cached_tenants_and_answers_503_for_others_until_it_returns()
 {
    let kms = Kms::start().await;
    let switch = Switch::start(&kms.endpoint).await;
    let db = TestDatabase::create().await;
    let idp = Idp::start();
    let mut env = haven_tests::app::base_env(&db.url);
    env.insert("OIDC_ISSUER_URL".into(), idp.issuer.clone());
    env.insert("OIDC_CLIENT_ID".into(), CLIENT_ID.into());
    env.insert("RATE_LIMIT_ENABLED".into(), "false".into());
    for (name, value) in kms.env() {
        env.insert(name.to_owned(), value);
    }
    env.insert("AWS_ENDPOINT_URL_KMS".into(), switch.endpoint.clone());
    operator(&["migrate", "up"], &env);
    for tenant in ["org-a", "org-b"] {
        operator(
            &[
                "tenants",
                "create",
                "--external-id",
                tenant,
                "--name",
                tenant,
            ],
            &env,
        );
    }
    env.insert("RUN_MIGRATIONS_ON_START".into(), "false".into());
    let server = HavenProcess::spawn(&["serve"], &env);
    assert!(server.wait_ready(Duration::from_secs(30)).await, "ready");
    let token = |tenant: &'static str, subject: &'static str| {
        idp.token(json!({"claims": {"tenant_id": tenant, "sub": subject, "roles": ["admin"]}}))
    };
    let (alice, bob) = (token("org-a", "alice").await, token("org-b", "bob").await);
    // Discovery runs in the background after start.
    let discovered = haven_tests::eventually(Duration::from_secs(15), || async {
        call(&server, &alice, reqwest::Method::GET, "/api/v1/me", None)
            .await
            .0
            == 200
    })
    .await;
    assert!(discovered, "the server accepts tokens");
    // Tenant A's keys are made by this process; tenant B has never had any.
    let (status, created, _, _) = call(
        &server,
        &alice,
        reqwest::Method::POST,
        "/api/v1/patients",
        Some(&new_patient("MRN-1", "Franklin")),
    )
    .await;
    assert_eq!(status, 201, "{created:?}");
    let path = format!("/api/v1/patients/{}", created["id"].as_str().unwrap());
    // Keys made in a transaction are cached once a later one reads them back (never a cached
    // key that a rollback left unstored): this read caches tenant A's.
    let (status, _, _, _) = call(&server, &alice, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200);

    switch.set(false);
    let (status, read, _, _) = call(&server, &alice, reqwest::Method::GET, &path, None).await;
    assert_eq!(
        (status, &read["family_name"]),
        (200, &json!("Franklin")),
        "{read:?}"
    );
    let (status, body, _, _) = call(
        &server,
        &alice,
        reqwest::Method::POST,
        "/api/v1/patients",
        Some(&new_patient("MRN-2", "Franklin")),
    )
    .await;
    assert_eq!(status, 201, "{body:?}");

    let (status, body, retry_after, request_id) = call(
        &server,
        &bob,
        reqwest::Method::POST,
        "/api/v1/patients",
        Some(&new_patient("MRN-1", "Byron")),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("PHI_002")),
        "{body:?}"
    );
    assert!(retry_after.is_some(), "Retry-After with the envelope");
    assert_eq!(body["error"]["request_id"], json!(request_id));
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let recorded: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "select t.external_id, e.action, e.outcome, e.error_code from audit_events e \
         join tenants t on t.id = e.tenant_id where e.request_id = $1",
    )
    .bind(&request_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        recorded,
        [(
            "org-b".to_owned(),
            "patient.create".to_owned(),
            "denied".to_owned(),
            Some("PHI_002".to_owned())
        )]
    );
    let (status, body, _, _) = call(
        &server,
        &bob,
        reqwest::Method::GET,
        "/api/v1/patients",
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("PHI_002"))
    );

    // Back: after the short fail-fast pause that follows a KMS failure, the running process
    // makes tenant B's key; no restart.
    switch.set(true);
    let served = haven_tests::eventually(Duration::from_secs(30), || async {
        call(
            &server,
            &bob,
            reqwest::Method::GET,
            "/api/v1/patients",
            None,
        )
        .await
        .0 == 200
    })
    .await;
    assert!(served, "tenant B is served again once KMS answers");
    let (status, created, _, _) = call(
        &server,
        &bob,
        reqwest::Method::POST,
        "/api/v1/patients",
        Some(&new_patient("MRN-1", "Byron")),
    )
    .await;
    assert_eq!(status, 201, "{created:?}");
    let path = format!("/api/v1/patients/{}", created["id"].as_str().unwrap());
    let (status, read, _, _) = call(&server, &bob, reqwest::Method::GET, &path, None).await;
    assert_eq!((status, &read["family_name"]), (200, &json!("Byron")));
}
