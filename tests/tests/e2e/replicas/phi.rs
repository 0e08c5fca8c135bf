//! Crypto-shredding on a running cluster: every replica drops the tenant's cached keys when
//! `haven tenants shred` commits, no wrapped key is left, other tenants go on, the audit trail
//! still verifies.

use std::time::Duration;

use serde_json::Value;

use super::Cluster;
use haven_tests::world::new_patient;

/// Whether replica `at` logged that it evicted `tenant`'s keys.
fn evicted(cluster: &Cluster, at: usize, tenant: &str) -> bool {
    cluster.replicas[at]
        .stdout_lines()
        .iter()
        .any(|line| line.contains("tenant keys evicted") && line.contains(tenant))
}

#[tokio::test]
async fn shredding_drops_the_keys_on_every_replica_and_leaves_other_tenants_and_the_audit_trail_intact()
 {
    let cluster = Cluster::start(&[]).await;
    cluster.operator(&[
        "tenants",
        "create",
        "--external-id",
        "org-2",
        "--name",
        "Two",
    ]);
    let token = cluster.token("alice").await;
    let client = &cluster.client;
    let created: Value = client
        .post(cluster.replicas[0].url("/api/v1/patients"))
        .bearer_auth(&token)
        .json(&new_patient("MRN-1", "Lovelace"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = format!("/api/v1/patients/{}", created["id"].as_str().unwrap());
    // Every replica reads it: each now holds the tenant's keys in its cache.
    for replica in &cluster.replicas {
        let response = client
            .get(replica.url(&path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let pool = sqlx::PgPool::connect(&cluster.db.url).await.unwrap();
    let tenant: uuid::Uuid =
        sqlx::query_scalar("select id from tenants where external_id = 'org-1'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let tenant = tenant.to_string();

    cluster.operator(&["tenants", "suspend", "org-1"]);
    cluster.operator(&["tenants", "shred", "org-1", "--confirm", "org-1"]);
    for at in 0..cluster.replicas.len() {
        let heard = haven_tests::eventually(Duration::from_secs(10), || async {
            evicted(&cluster, at, &tenant)
        })
        .await;
        assert!(heard, "replica {at} dropped the shredded tenant's keys");
    }
    let wrapped: i64 = sqlx::query_scalar(
        "select count(*) from tenant_keys where tenant_id = $1::uuid and wrapped_key is not null",
    )
    .bind(&tenant)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(wrapped, 0, "no wrapped key is left");
    let stored: i64 = sqlx::query_scalar(
        "select count(*) from patients where tenant_id = $1::uuid and substring(family_name from 1 for 1) = '\\x01'::bytea",
    )
    .bind(&tenant)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        stored, 1,
        "the row is still there, as ciphertext nobody can open"
    );
    // The shredded tenant cannot come back; its audit trail still verifies.
    let (code, _, _) = super::run(&["tenants", "activate", "org-1"], &cluster.env());
    assert_eq!(code, Some(1));
    cluster.operator(&["audit", "verify", "--tenant", "org-1"]);
    // Another tenant is unaffected.
    let other = cluster
        .idp
        .token(
            serde_json::json!({"claims": {"sub": "bob", "tenant_id": "org-2", "roles": ["admin"]}}),
        )
        .await;
    for replica in &cluster.replicas {
        let response = client
            .post(replica.url("/api/v1/patients"))
            .bearer_auth(&other)
            .json(&new_patient(&format!("MRN-{}", replica.pid()), "Hopper"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
}
