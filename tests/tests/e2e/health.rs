//! Liveness and readiness against a real PostgreSQL, including one that stops and comes back.

use std::time::{Duration, Instant};

use haven_tests::{HavenProcess, PrivateCluster, TestDatabase, spawn_app};
use serde_json::Value;

#[tokio::test]
async fn liveness_answers_ok_with_a_timestamp_for_get_and_head() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/health/live").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let stamp = body["timestamp"].as_u64().expect("numeric unix timestamp");
    assert!(
        stamp.abs_diff(now) < 60,
        "timestamp {stamp} is now-ish ({now})"
    );

    let head = app
        .client
        .head(app.url("/api/v1/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn readiness_is_ready_with_the_database_up_and_secrets_not_configured() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/health/ready").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["secrets"], "not_configured");
    assert!(body["timestamp"].is_u64());
    app.stop().await;
}

#[tokio::test]
async fn readiness_follows_the_database_down_and_back_up_without_a_restart() {
    let cluster = PrivateCluster::start();
    let db = TestDatabase::create_on(&cluster.admin_url()).await;
    let mut env = haven_tests::app::base_env(&db.url);
    env.insert("LOG_LEVEL".into(), "info".into());
    let service = HavenProcess::spawn(&["serve"], &env);
    assert!(
        service.wait_ready(Duration::from_secs(20)).await,
        "ready at start: {:?}",
        service.stderr_lines()
    );
    let client = reqwest::Client::new();

    cluster.stop_server();
    // The cached answer may be up to a second old; the 503 must arrive within 3 s of the stop.
    // The deadline is measured when each answer arrives, and a request still under way at the
    // deadline fails the test too.
    let stopped = Instant::now();
    let deadline = stopped + Duration::from_secs(3);
    let body = loop {
        let started = Instant::now();
        let response = tokio::time::timeout_at(
            deadline.into(),
            client.get(service.url("/api/v1/health/ready")).send(),
        )
        .await
        .expect("readiness answered within 3 s of the database stopping")
        .unwrap();
        let arrived = stopped.elapsed();
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "readiness answers within its bound"
        );
        if response.status() == 503 {
            assert!(
                arrived < Duration::from_secs(3),
                "the 503 arrived {arrived:?} after the database stopped"
            );
            break response.json::<Value>().await.unwrap();
        }
        assert!(
            arrived < Duration::from_secs(3),
            "still {} {arrived:?} after the database stopped",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"], "unavailable");
    assert_eq!(body["error"]["code"], "SYS_001");
    let text = body.to_string();
    assert!(
        !text.contains("onnection") && !text.contains("refused"),
        "no driver text: {text}"
    );

    let live = client
        .get(service.url("/api/v1/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        live.status(),
        200,
        "liveness does not depend on the database"
    );

    cluster.start_server();
    assert!(
        service.wait_ready(Duration::from_secs(15)).await,
        "ready again after the database returns"
    );
}

#[tokio::test]
async fn a_probe_storm_is_answered_from_the_cache_without_exhausting_the_pool() {
    let app = spawn_app().await;
    let mut probes = Vec::new();
    for _ in 0..200 {
        let client = app.client.clone();
        let url = app.url("/api/v1/health/ready");
        probes.push(tokio::spawn(async move {
            client.get(url).send().await.map(|r| r.status().as_u16())
        }));
    }
    for probe in probes {
        assert_eq!(probe.await.unwrap().unwrap(), 200);
    }
    // One check per second at most: the storm opened no more than a couple of backends.
    let mut conn = app.db.connect().await;
    let backends: i64 = sqlx::query_scalar(
        "select count(*) from pg_stat_activity where datname = current_database() and application_name = 'haven'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(backends <= 2, "{backends} pool connections for 200 probes");
    app.stop().await;
}

#[tokio::test]
async fn readiness_is_unavailable_while_the_schema_is_behind_the_binary_and_recovers_when_it_catches_up()
 {
    let app = spawn_app().await;
    assert_eq!(app.get("/api/v1/health/ready").await.status(), 200);
    let mut conn = app.db.connect().await;
    let expected = haven_db::migrate::expected_version();
    // As the superuser: forget the newest migration, as if this binary ran on a database one
    // release behind it (its row is put back below, unchanged).
    let (name, applied_on, checksum): (String, String, String) = sqlx::query_as(
        "delete from refinery_schema_history where version = $1 \
         returning name, applied_on, checksum",
    )
    .bind(expected)
    .fetch_one(&mut conn)
    .await
    .expect("the newest migration is recorded");

    // The cached answer may be up to a second old.
    let until = Instant::now() + Duration::from_secs(5);
    let body = loop {
        let response = app.get("/api/v1/health/ready").await;
        if response.status() == 503 {
            break response.json::<Value>().await.unwrap();
        }
        assert!(
            Instant::now() < until,
            "readiness turned 503 with the schema behind"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"], "unavailable", "{body}");
    assert_eq!(body["checks"]["secrets"], "not_configured");
    assert_eq!(body["error"]["code"], "SYS_001");

    sqlx::query(
        "insert into refinery_schema_history (version, name, applied_on, checksum) \
         values ($1, $2, $3, $4)",
    )
    .bind(expected)
    .bind(name)
    .bind(applied_on)
    .bind(checksum)
    .execute(&mut conn)
    .await
    .expect("put the row back");
    let ready = haven_tests::eventually(Duration::from_secs(5), || {
        let request = app.client.get(app.url("/api/v1/health/ready")).send();
        async move { matches!(request.await, Ok(r) if r.status() == 200) }
    })
    .await;
    assert!(
        ready,
        "ready again once the schema is at the expected version"
    );
    app.stop().await;
}

#[tokio::test]
async fn readiness_is_ready_while_the_identity_provider_is_unreachable() {
    // An issuer whose port accepts connections and closes them unanswered: discovery fails
    // for as long as the test runs.
    let idp = haven_tests::ClosingEndpoint::start();
    let issuer = idp.url();
    let app = haven_tests::spawn_app_with(move |env| {
        env.insert("OIDC_ISSUER_URL".into(), issuer);
        env.insert("OIDC_CLIENT_ID".into(), "haven-test".into());
    })
    .await;
    // The service did try the IdP (so it is configured and down, not ignored)...
    assert!(
        haven_tests::eventually(Duration::from_secs(10), || async { idp.connections() > 0 }).await,
        "discovery was attempted"
    );
    // ...and a well-formed token, whose keys would come from the IdP, is answered 503
    // AUTH_008: never a 401 or a 200.
    let b64 = |v: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    };
    let token = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"RS256","kid":"k1"}"#),
        b64(r#"{"sub":"a"}"#),
        b64("signature")
    );
    let me = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = me.status();
    let body: Value = me.json().await.unwrap();
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (503, Some("AUTH_008")),
        "{body}"
    );
    // Readiness does not depend on the IdP: an IdP outage must not block deploys.
    let response = app.get("/api/v1/health/ready").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    assert!(
        body["checks"].get("oidc").is_none() && body["checks"].get("idp").is_none(),
        "no IdP check: {body}"
    );
    app.stop().await;
}
