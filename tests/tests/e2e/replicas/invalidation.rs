//! Revocation reaches every replica at once: suspended tenants, disabled users and removed
//! signing keys, through the invalidation listener (and after it lost its connection).

use std::time::Duration;

use super::{Answer, Cluster};

/// The bound the docs promise for suspension, disabling and key refresh on every replica.
const EVERYWHERE: Duration = Duration::from_secs(1);

fn ok(a: &Answer) -> bool {
    a.status == 200
}

fn refused_with(code: &'static str) -> impl Fn(&Answer) -> bool + Copy {
    move |a| a.status == 403 && a.code.as_deref() == Some(code)
}

#[tokio::test]
async fn suspension_disabling_and_key_refresh_reach_every_replica_within_a_second() {
    let cluster = Cluster::start(&[]).await;
    let token = cluster.token("user-a").await;
    // Every replica has the tenant and the user cached (TTLs 10 s and 60 s).
    cluster.all_within(EVERYWHERE, &token, "200", ok).await;

    cluster.users("disable", "user-a");
    cluster
        .all_within(EVERYWHERE, &token, "USER_001", refused_with("USER_001"))
        .await;
    cluster.users("enable", "user-a");
    cluster
        .all_within(EVERYWHERE, &token, "200 again", ok)
        .await;

    cluster.operator(&["tenants", "suspend", "org-1"]);
    cluster
        .all_within(EVERYWHERE, &token, "TENANT_002", refused_with("TENANT_002"))
        .await;
    cluster.operator(&["tenants", "activate", "org-1"]);
    cluster
        .all_within(EVERYWHERE, &token, "200 again", ok)
        .await;

    // The provider drops the key this token was signed with; the replicas still hold it
    // until told to refetch.
    cluster.idp.rotate().await;
    assert_eq!(
        cluster.me(0, &token).await.status,
        200,
        "cached key still used"
    );
    cluster.operator(&["jwks", "refresh"]);
    cluster
        .all_within(EVERYWHERE, &token, "401 for the removed key", |a| {
            a.status == 401
        })
        .await;
    let fresh = cluster.token("user-a").await;
    cluster
        .all_within(EVERYWHERE, &fresh, "the new key", ok)
        .await;
}

#[tokio::test]
async fn an_admin_disabling_a_user_is_refused_everywhere_and_audited() {
    let cluster = Cluster::start(&[]).await;
    let admin = cluster.token("admin-1").await;
    let target = cluster.token("user-b").await;
    cluster.all_within(EVERYWHERE, &target, "200", ok).await;
    let mut conn = cluster.db.connect().await;
    let id: uuid::Uuid = sqlx::query_scalar("select id from users where subject = 'user-b'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let response = cluster
        .client
        .post(cluster.replicas[1].url(&format!("/api/v1/users/{id}/disable")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["subject"], "user-b");
    assert!(body["disabled_at"].is_string(), "{body}");
    cluster
        .all_within(EVERYWHERE, &target, "USER_001", refused_with("USER_001"))
        .await;
    let (action, outcome, actor): (String, String, String) = sqlx::query_as(
        "select action, outcome, actor_subject from audit_events where resource_id = $1",
    )
    .bind(id.to_string())
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        (action.as_str(), outcome.as_str(), actor.as_str()),
        ("user.disable", "success", "admin-1")
    );

    // A non-admin may not, and the refusal is on the record.
    let viewer = cluster
        .idp
        .token(serde_json::json!({"claims": {"sub": "viewer-1", "roles": ["viewer"]}}))
        .await;
    let refused = cluster
        .client
        .post(cluster.replicas[2].url(&format!("/api/v1/users/{id}/enable")))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let denied: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where action = 'user.enable' and outcome = 'denied'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(denied, 1);

    let enabled = cluster
        .client
        .post(cluster.replicas[0].url(&format!("/api/v1/users/{id}/enable")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.status(), 200);
    cluster
        .all_within(EVERYWHERE, &target, "200 again", ok)
        .await;
    let unknown = cluster
        .client
        .post(cluster.replicas[0].url(&format!("/api/v1/users/{}/disable", uuid::Uuid::new_v4())))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn a_terminated_listener_reconnects_and_malformed_payloads_are_ignored() {
    let cluster = Cluster::start(&[]).await;
    let token = cluster.token("user-c").await;
    cluster.all_within(EVERYWHERE, &token, "200", ok).await;
    let before = cluster.listener_pids().await;
    let mut conn = cluster.db.connect().await;
    sqlx::query("select pg_terminate_backend(pid) from unnest($1::int[]) as pid")
        .bind(&before)
        .execute(&mut conn)
        .await
        .unwrap();
    let reconnected = haven_tests::eventually(Duration::from_secs(15), || async {
        let now = cluster.listener_pids().await;
        now.len() == 3 && now.iter().all(|pid| !before.contains(pid))
    })
    .await;
    assert!(
        reconnected,
        "every replica listens again on a new connection"
    );

    for payload in [
        "not json",
        r#"{"v":99,"kind":"signing_keys"}"#,
        r#"{"v":1,"kind":"drop_everything"}"#,
    ] {
        sqlx::query("select pg_notify('haven_invalidation', $1)")
            .bind(payload)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let logged = haven_tests::eventually(Duration::from_secs(5), || async {
        cluster
            .logs()
            .iter()
            .filter(|l| l.contains("invalidation ignored"))
            .count()
            == 9
    })
    .await;
    assert!(logged, "each replica logged each malformed payload once");

    // The listeners survived both and still act on real messages.
    cluster.all_within(EVERYWHERE, &token, "200", ok).await;
    cluster.users("disable", "user-c");
    cluster
        .all_within(EVERYWHERE, &token, "USER_001", refused_with("USER_001"))
        .await;
}
