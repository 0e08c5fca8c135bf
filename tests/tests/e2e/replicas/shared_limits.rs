//! Rate limits shared through Redis (REDIS_URL): one budget per subject across every replica,
//! and a Redis outage that falls back to local limits instead of failing requests.

use std::collections::HashMap;
use std::time::Duration;

use haven_tests::{HavenProcess, RedisServer};

use super::Cluster;

const BURST: u32 = 5;

#[tokio::test]
async fn a_subjects_budget_is_shared_by_every_replica() {
    // The Redis scripts/test started (keys are per tenant and subject, and every test has its
    // own tenant ids), or one of our own.
    let own: Option<RedisServer>;
    let url = match std::env::var("HAVEN_TEST_REDIS_URL") {
        Ok(url) => url,
        Err(_) => {
            own = Some(RedisServer::start());
            own.as_ref().map(RedisServer::url).unwrap_or_default()
        }
    };
    // One request a minute after the burst: whatever the test's pace, the three replicas
    // together may admit the burst and at most one more. Counting apart, they would admit 15.
    let cluster = Cluster::start(&[
        ("REDIS_URL", url.as_str()),
        ("RATE_LIMIT_PER_MINUTE", "1"),
        ("RATE_LIMIT_BURST", "5"),
    ])
    .await;
    let token = cluster.token("busy").await;
    let mut statuses: HashMap<u16, u32> = HashMap::new();
    for i in 0..30 {
        let status = cluster.me(i % 3, &token).await.status;
        *statuses.entry(status).or_default() += 1;
    }
    let admitted = statuses.get(&200).copied().unwrap_or(0);
    let refused = statuses.get(&429).copied().unwrap_or(0);
    assert_eq!(admitted + refused, 30, "only 200 or 429: {statuses:?}");
    assert!(
        (BURST..=BURST + 1).contains(&admitted),
        "the burst of {BURST} is shared by the replicas: {statuses:?}"
    );
}

#[tokio::test]
async fn stopping_redis_mid_test_never_produces_a_5xx_and_is_logged_once_per_replica() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let cluster = Cluster::start(&[("REDIS_URL", url.as_str())]).await;
    let token = cluster.token("steady").await;
    let shared = cluster.me(0, &token).await;
    assert_eq!(shared.status, 200);
    redis.stop();
    for i in 0..60 {
        let answer = cluster.me(i % 3, &token).await;
        assert_eq!(
            answer.status, 200,
            "request {i} after Redis stopped: {answer:?}"
        );
    }
    let fallbacks = cluster
        .logs()
        .iter()
        .filter(|line| line.contains("Redis unreachable"))
        .count();
    assert_eq!(fallbacks, 3, "each replica logs the fallback once");
}

#[test]
fn a_malformed_redis_url_stops_the_process_naming_the_variable() {
    let mut env = haven_tests::app::base_env("postgres://u@127.0.0.1/db");
    env.insert("REDIS_URL".into(), "redis//nowhere:6379".into());
    let mut check = HavenProcess::spawn(&["config", "check"], &env);
    let status = check.wait_exit(Duration::from_secs(30)).expect("exits");
    assert_eq!(status.code(), Some(78));
    let stderr = check.stderr_lines().join("\n");
    assert!(stderr.contains("REDIS_URL"), "{stderr}");
}
