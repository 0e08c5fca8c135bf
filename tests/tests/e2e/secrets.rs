//! Secrets Manager end to end: the real binary, moto on loopback, reached only through
//! AWS_ENDPOINT_URL with dummy credentials, as production reaches AWS.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use haven_tests::idp::{CLIENT_ID, Idp};
use haven_tests::{ClosingEndpoint, HavenProcess, Moto, TestDatabase, app::base_env};
use serde_json::{Value, json};

// At least 32 bytes each: the login flow derives its state key from the client secret.
const CLIENT_SECRET: &str = "oidc-client-secret-5d1e0c-4b8a90c2";
const ROTATED_SECRET: &str = "oidc-client-secret-rotated-9a7f-61d3e5f8";
const FRONTEND: &str = "http://localhost:3000";

/// A service environment whose secrets come from `moto`, with no DATABASE_URL of its own.
fn env_with_secret(
    moto: &Moto,
    secret_id: &str,
    database_url: Option<&str>,
) -> HashMap<String, String> {
    let mut env = base_env(database_url.unwrap_or(""));
    env.remove("DATABASE_URL");
    if let Some(url) = database_url {
        env.insert("DATABASE_URL".into(), url.into());
    }
    env.insert("LOG_LEVEL".into(), "info".into());
    env.insert("AWS_SECRETS_MANAGER_SECRET_ID".into(), secret_id.into());
    env.insert("SECRETS_STARTUP_RETRY_SECONDS".into(), "2".into());
    env.extend(moto.env());
    env
}

fn assert_no_value_leaked(process: &HavenProcess, values: &[&str]) {
    let output = format!(
        "{}\n{}",
        process.stdout_lines().join("\n"),
        process.stderr_lines().join("\n")
    );
    for value in values {
        assert!(
            !output.contains(value),
            "a secret value reached the output: {output}"
        );
    }
}

#[tokio::test]
async fn a_json_secret_supplies_the_database_url_and_readiness_reports_secrets_ok() {
    let moto = Moto::start().await;
    let db = TestDatabase::create().await;
    let secret = json!({"OIDC_CLIENT_SECRET": CLIENT_SECRET, "DATABASE_URL": db.url, "EXTRA_API_KEY": "extra-9c2b"});
    moto.create_secret("haven/test", &secret.to_string()).await;

    let service = HavenProcess::spawn(&["serve"], &env_with_secret(&moto, "haven/test", None));
    assert!(
        service.wait_ready(Duration::from_secs(20)).await,
        "{:?}",
        service.stdout_lines()
    );
    let body: Value = reqwest::get(service.url("/api/v1/health/ready"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["checks"],
        json!({"database": "ok", "secrets": "ok", "storage": "not_configured"})
    );
    let password_free_url = db.url.clone();
    assert_no_value_leaked(&service, &[CLIENT_SECRET, "extra-9c2b", &password_free_url]);
    assert!(
        service
            .stdout_lines()
            .iter()
            .any(|l| l.contains("secrets loaded") && l.contains("EXTRA_API_KEY"))
    );
}

#[tokio::test]
async fn permanent_secret_failures_stop_start_up_at_once_with_the_reason() {
    let moto = Moto::start().await;
    let db = TestDatabase::create().await;
    moto.create_secret(
        "haven/malformed",
        "{\"OIDC_CLIENT_SECRET\": \"abc-leak-1\",",
    )
    .await;
    moto.create_secret("haven/no-key", &json!({"OTHER": "abc-leak-2"}).to_string())
        .await;
    let cases = [
        ("haven/absent", "was not found"),
        ("haven/malformed", "is malformed"),
        (
            "haven/no-key",
            "no value for required key OIDC_CLIENT_SECRET",
        ),
    ];
    for (secret_id, reason) in cases {
        let mut env = env_with_secret(&moto, secret_id, Some(&db.url));
        // A required client secret needs an identity provider to be configured.
        env.insert("OIDC_ISSUER_URL".into(), "http://127.0.0.1:9/".into());
        env.insert("OIDC_CLIENT_ID".into(), "haven".into());
        let started = Instant::now();
        let mut service = HavenProcess::spawn(&["serve"], &env);
        let status = service
            .wait_exit(Duration::from_secs(15))
            .expect("start-up gives up");
        assert!(!status.success());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "permanent failures are not retried"
        );
        let log = service.stdout_lines().join("\n");
        assert!(
            log.contains(reason) && log.contains("SYS_002") && log.contains(secret_id),
            "{secret_id}: {log}"
        );
        assert_no_value_leaked(&service, &["abc-leak-1", "abc-leak-2"]);
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_retried_within_the_budget_then_start_up_fails_with_sys_002() {
    let moto = Moto::start().await;
    let db = TestDatabase::create().await;
    let mut env = env_with_secret(&moto, "haven/test", Some(&db.url));
    drop(moto);
    // Not moto's old port, which another test's server may bind once it is free.
    let endpoint = ClosingEndpoint::start();
    env.insert("AWS_ENDPOINT_URL".into(), endpoint.url());
    let started = Instant::now();
    let mut service = HavenProcess::spawn(&["serve"], &env);
    let status = service
        .wait_exit(Duration::from_secs(20))
        .expect("start-up gives up");
    assert!(!status.success());
    // It waited between attempts, as long as it said it would. (Not "at least half the budget":
    // it gives up as soon as the next wait would end past the budget, which with the jittered
    // delays of 2 s can be after 0.7 s.)
    let waits: Vec<u64> = service
        .stdout_lines()
        .iter()
        .filter(|l| l.contains("Secrets Manager call failed; retrying"))
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["delay_ms"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(
        waits.len() >= 2,
        "it retried before giving up: {:?}",
        service.stdout_lines()
    );
    let waited = Duration::from_millis(waits.iter().sum());
    assert!(
        started.elapsed() >= waited,
        "{:?} < {waited:?}",
        started.elapsed()
    );
    assert!(
        service
            .stdout_lines()
            .iter()
            .any(|l| l.contains("retry budget spent")),
        "{:?}",
        service.stdout_lines()
    );
    assert!(
        endpoint.connections() >= 2,
        "more than one attempt reached the endpoint: {}",
        endpoint.connections()
    );
    let failure = service
        .stdout_lines()
        .into_iter()
        .find(|l| l.contains("start-up failed"))
        .expect("one start-up failure line");
    let line: Value = serde_json::from_str(&failure).unwrap();
    assert_eq!(line["error_code"], "SYS_002");
    assert!(
        line["error"].as_str().unwrap().contains("haven/test"),
        "{line}"
    );
}

/// One login through the service (`/auth/login`, the provider's authorize redirect,
/// `/auth/callback`), and how the service authenticated at the token endpoint for it.
async fn log_in_once(service: &HavenProcess, idp: &Idp) -> Value {
    let client = reqwest::Client::new();
    let login = client
        .get(service.url(&format!(
            "/api/v1/auth/login?redirect_uri={FRONTEND}/callback"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let login: Value = login.json().await.unwrap();
    let authorize = idp
        .http()
        .get(login["authorization_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(authorize.status(), 302);
    let location = url::Url::parse(authorize.headers()["location"].to_str().unwrap()).unwrap();
    let query: HashMap<String, String> = location.query_pairs().into_owned().collect();
    let before = idp.token_clients().await.len();
    // The callback checks the access token as any request would: it names a known tenant.
    idp.next_claims(json!({"tenant_id": "org-rotating", "roles": ["viewer"]}))
        .await;
    let callback = client
        .post(service.url("/api/v1/auth/callback"))
        .json(&json!({"code": query["code"], "state": query["state"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), 200, "{:?}", callback.text().await);
    let clients = idp.token_clients().await;
    assert_eq!(clients.len(), before + 1, "one token request per login");
    clients[before].clone()
}

#[tokio::test]
async fn a_rotated_client_secret_is_sent_by_the_next_token_exchange_without_a_restart() {
    let idp = Idp::start();
    let moto = Moto::start().await;
    let db = TestDatabase::create().await;
    moto.create_secret(
        "haven/rotating",
        &json!({"OIDC_CLIENT_SECRET": CLIENT_SECRET}).to_string(),
    )
    .await;
    let mut env = env_with_secret(&moto, "haven/rotating", Some(&db.url));
    env.insert("SECRETS_REFRESH_SECONDS".into(), "1".into());
    env.insert("DEV_TENANT_EXTERNAL_ID".into(), "org-rotating".into());
    env.insert("OIDC_ISSUER_URL".into(), idp.issuer.clone());
    env.insert("OIDC_CLIENT_ID".into(), CLIENT_ID.into());
    env.insert("ALLOWED_ORIGINS".into(), FRONTEND.into());
    let service = HavenProcess::spawn(&["serve"], &env);
    assert!(service.wait_ready(Duration::from_secs(20)).await);
    // Discovery runs in the background: login answers 503 until it is done.
    let login_url = service.url(&format!(
        "/api/v1/auth/login?redirect_uri={FRONTEND}/callback"
    ));
    let discovered = haven_tests::eventually(Duration::from_secs(15), || {
        let request = reqwest::get(login_url.clone());
        async move { matches!(request.await, Ok(r) if r.status() == 200) }
    })
    .await;
    assert!(discovered, "the service discovered the identity provider");

    let first = log_in_once(&service, &idp).await;
    assert_eq!(
        first,
        json!({"method": "client_secret_basic", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    );

    moto.put_secret(
        "haven/rotating",
        &json!({"OIDC_CLIENT_SECRET": ROTATED_SECRET}).to_string(),
    )
    .await;
    let picked_up = haven_tests::eventually(Duration::from_secs(10), || {
        let lines = service.stdout_lines();
        async move {
            lines
                .iter()
                .any(|l| l.contains("secrets rotated") && l.contains("OIDC_CLIENT_SECRET"))
        }
    })
    .await;
    assert!(
        picked_up,
        "the refresh reported the rotated key: {:?}",
        service.stdout_lines()
    );
    // The same process, no restart: the next exchange authenticates with the new value.
    let after = log_in_once(&service, &idp).await;
    assert_eq!(after["client_secret"], ROTATED_SECRET, "{after}");
    assert_no_value_leaked(&service, &[CLIENT_SECRET, ROTATED_SECRET]);
}

#[tokio::test]
async fn the_endpoint_going_away_keeps_the_service_serving_until_the_staleness_window_marks_it_unready()
 {
    let mut moto = Moto::start().await;
    let db = TestDatabase::create().await;
    moto.create_secret(
        "haven/fading",
        &json!({"OIDC_CLIENT_SECRET": CLIENT_SECRET}).to_string(),
    )
    .await;
    let mut env = env_with_secret(&moto, "haven/fading", Some(&db.url));
    env.insert("SECRETS_REFRESH_SECONDS".into(), "1".into());
    env.insert("SECRETS_STALE_AFTER_SECONDS".into(), "3".into());
    let service = HavenProcess::spawn(&["serve"], &env);
    assert!(service.wait_ready(Duration::from_secs(20)).await);
    moto.stop();

    let client = reqwest::Client::new();
    // Within the window the last good value is used and the service stays ready.
    let right_after: Value = client
        .get(service.url("/api/v1/health/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(right_after["checks"]["secrets"], "ok", "{right_after}");
    let turned = haven_tests::eventually(Duration::from_secs(15), || {
        let request = client.get(service.url("/api/v1/health/ready")).send();
        async move {
            match request.await {
                Ok(r) if r.status() == 503 => {
                    let body: Value = r.json().await.unwrap_or_default();
                    body["checks"]["secrets"] == "unavailable" && body["error"]["code"] == "SYS_002"
                }
                _ => false,
            }
        }
    })
    .await;
    assert!(turned, "readiness reports stale secrets after the window");
    assert_eq!(
        client
            .get(service.url("/api/v1/health/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_no_value_leaked(&service, &[CLIENT_SECRET]);
}

#[tokio::test]
async fn the_secrets_manager_endpoint_variable_wins_over_aws_endpoint_url() {
    let moto = Moto::start().await;
    let db = TestDatabase::create().await;
    moto.create_secret(
        "haven/scoped",
        &json!({"OIDC_CLIENT_SECRET": CLIENT_SECRET}).to_string(),
    )
    .await;
    let mut env = env_with_secret(&moto, "haven/scoped", Some(&db.url));
    env.insert(
        "AWS_ENDPOINT_URL".into(),
        format!("http://127.0.0.1:{}", haven_tests::free_port()),
    );
    env.insert("AWS_ENDPOINT_URL_SECRETS_MANAGER".into(), moto.endpoint());
    let service = HavenProcess::spawn(&["serve"], &env);
    assert!(
        service.wait_ready(Duration::from_secs(20)).await,
        "{:?}",
        service.stdout_lines()
    );
}

#[tokio::test]
async fn missing_aws_credentials_fail_start_up_at_once_without_spending_the_retry_budget() {
    let moto = Moto::start().await;
    let db = TestDatabase::create().await;
    let mut env = env_with_secret(&moto, "haven/test", Some(&db.url));
    env.remove("AWS_ACCESS_KEY_ID");
    env.remove("AWS_SECRET_ACCESS_KEY");
    env.insert("SECRETS_STARTUP_RETRY_SECONDS".into(), "30".into());
    // No instance-metadata lookups from a test: that address is not on this machine.
    env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    let started = Instant::now();
    let mut service = HavenProcess::spawn(&["serve"], &env);
    let status = service
        .wait_exit(Duration::from_secs(25))
        .expect("start-up gives up");
    assert!(!status.success());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let log = service.stdout_lines().join("\n");
    assert!(
        log.contains("SYS_002") && log.contains("credentials"),
        "{log}"
    );
}

#[tokio::test]
async fn migrate_up_as_a_pre_deploy_command_takes_the_database_url_from_the_secret() {
    let moto = Moto::start().await;
    let db = TestDatabase::create().await;
    let secret = json!({"OIDC_CLIENT_SECRET": CLIENT_SECRET, "DATABASE_URL": db.url});
    moto.create_secret("haven/predeploy", &secret.to_string())
        .await;
    let env = env_with_secret(&moto, "haven/predeploy", None);
    let mut migrate = HavenProcess::spawn(&["migrate", "up"], &env);
    let status = migrate.wait_exit(Duration::from_secs(30)).expect("exits");
    assert!(
        status.success(),
        "{:?} {:?}",
        migrate.stdout_lines(),
        migrate.stderr_lines()
    );
    let mut conn = db.connect().await;
    let applied: i64 = sqlx::query_scalar("select count(*) from refinery_schema_history")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(applied > 0);
    assert_no_value_leaked(&migrate, &[CLIENT_SECRET]);
}

#[tokio::test]
async fn in_production_a_secret_also_set_in_the_environment_is_reported_by_name_never_value() {
    const STRAY: &str = "stray-plain-copy-of-the-client-secret-7c41e9";
    let moto = Moto::start().await;
    let db = TestDatabase::create().await;
    let secret = json!({
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "DATABASE_URL": db.url,
        "EXTRA_API_KEY": "extra-4d0a"
    });
    moto.create_secret("haven/shadowed", &secret.to_string())
        .await;
    // Production and development with the same stray copies: OIDC_CLIENT_SECRET and
    // DATABASE_URL are in the secret and in the plain environment, EXTRA_API_KEY only in the
    // secret. Only production reports them (CONFIGURATION.md, "Production rules").
    for (environment, expected) in [
        ("production", vec!["DATABASE_URL", "OIDC_CLIENT_SECRET"]),
        ("development", vec![]),
    ] {
        let mut env = env_with_secret(&moto, "haven/shadowed", Some(&db.url));
        env.remove("ENABLE_TEST_ROUTES");
        env.insert("ENVIRONMENT".into(), environment.into());
        // Never reached: discovery runs in the background and readiness does not wait for it.
        env.insert("OIDC_ISSUER_URL".into(), "https://127.0.0.1:9".into());
        env.insert("OIDC_CLIENT_ID".into(), CLIENT_ID.into());
        env.insert("OIDC_CLIENT_SECRET".into(), STRAY.into());
        let service = HavenProcess::spawn(&["serve"], &env);
        assert!(
            service.wait_ready(Duration::from_secs(20)).await,
            "{environment}: {:?} {:?}",
            service.stdout_lines(),
            service.stderr_lines()
        );
        // Start-up reports stray copies before it listens: once "listening" is read, every
        // report is.
        let listening = haven_tests::eventually(Duration::from_secs(5), || {
            let lines = service.stdout_lines();
            async move { lines.iter().any(|l| l.contains("\"listening\"")) }
        })
        .await;
        assert!(listening, "{environment}: {:?}", service.stdout_lines());
        let mut reported: Vec<String> = Vec::new();
        for line in service.stdout_lines() {
            let line: Value = serde_json::from_str(&line).unwrap();
            if line["message"]
                .as_str()
                .is_some_and(|m| m.contains("also set in the environment"))
            {
                assert_eq!(line["level"], "WARN", "{line}");
                reported.push(line["key"].as_str().unwrap_or_default().to_owned());
            }
        }
        reported.sort();
        assert_eq!(reported, expected, "{environment}");
        assert_no_value_leaked(&service, &[CLIENT_SECRET, STRAY, "extra-4d0a", &db.url]);
    }
}
