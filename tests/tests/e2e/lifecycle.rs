//! SIGTERM: in-flight requests finish, new connections are refused, the process exits 0.

use std::time::{Duration, Instant};

use haven_tests::{HavenProcess, TestDatabase, app::base_env};

#[tokio::test]
async fn sigterm_lets_slow_requests_finish_refuses_new_connections_and_exits_zero() {
    let db = TestDatabase::create().await;
    let mut env = base_env(&db.url);
    env.insert("LOG_LEVEL".into(), "info".into());
    let mut service = HavenProcess::spawn(&["serve"], &env);
    assert!(
        service.wait_ready(Duration::from_secs(20)).await,
        "{:?}",
        service.stderr_lines()
    );

    let client = reqwest::Client::new();
    let mut slow = Vec::new();
    for _ in 0..3 {
        let request = client
            .get(service.url("/api/v1/_test/sleep?ms=1500"))
            .send();
        slow.push(tokio::spawn(async move {
            let response = request.await?;
            Ok::<_, reqwest::Error>((response.status().as_u16(), response.text().await?))
        }));
    }
    // Let the slow requests reach the handler before the signal.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    service.signal("TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;

    let fresh = reqwest::Client::new()
        .get(service.url("/api/v1/health/live"))
        .send()
        .await;
    assert!(
        fresh.is_err(),
        "a new connection after SIGTERM is refused: {fresh:?}"
    );

    for request in slow {
        let (status, body) = request
            .await
            .unwrap()
            .expect("the in-flight request completes");
        assert_eq!((status, body.as_str()), (200, "slept"));
    }
    let status = service
        .wait_exit(Duration::from_secs(10))
        .expect("the process exits");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "it exits once drained, not after the whole grace"
    );
    let lines = service.stdout_lines();
    assert!(
        lines.iter().any(|l| l.contains("shutdown signal received")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn sigint_stops_an_idle_service_with_exit_zero() {
    let db = TestDatabase::create().await;
    let mut service = HavenProcess::spawn(&["serve"], &base_env(&db.url));
    assert!(service.wait_ready(Duration::from_secs(20)).await);
    service.signal("INT");
    let status = service
        .wait_exit(Duration::from_secs(5))
        .expect("the process exits");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_healthcheck_command_reports_the_local_service() {
    let db = TestDatabase::create().await;
    let service = HavenProcess::spawn(&["serve"], &base_env(&db.url));
    assert!(service.wait_ready(Duration::from_secs(20)).await);
    let mut env = std::collections::HashMap::new();
    env.insert("PORT".to_owned(), service.port.to_string());
    let mut up = HavenProcess::spawn(&["healthcheck"], &env);
    assert!(
        up.wait_exit(Duration::from_secs(5))
            .expect("exits")
            .success()
    );

    env.insert("PORT".to_owned(), haven_tests::free_port().to_string());
    let mut down = HavenProcess::spawn(&["healthcheck"], &env);
    assert!(
        !down
            .wait_exit(Duration::from_secs(5))
            .expect("exits")
            .success()
    );
}
