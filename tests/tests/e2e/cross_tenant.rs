//! One tenant can neither see, change nor detect another tenant's documents: a targeted test and
//! a concurrent fuzz over many tenants.

mod fuzz;

use reqwest::Method;
use serde_json::json;

use crate::documents::support::{World, new_doc};

#[tokio::test]
async fn another_tenants_document_is_404_for_get_patch_and_delete_and_nothing_changes() {
    let w = World::start(&["org-a", "org-b"]).await;
    let alice = w.token("org-a", "alice", &["admin"]).await;
    let bob = w.token("org-b", "bob", &["admin"]).await;
    let doc = w.create(&alice, &new_doc("Tenant A's record")).await;
    let path = format!("/api/v1/documents/{}", doc["id"].as_str().unwrap());
    let nowhere = format!("/api/v1/documents/{}", uuid::Uuid::new_v4());
    let tenant_b = w.tenant_id("org-b").await;

    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"title": "Owned by B now"}))),
        (Method::DELETE, None),
    ] {
        let theirs = w.call(method.clone(), &path, &bob, body.as_ref()).await;
        let missing = w.call(method.clone(), &nowhere, &bob, body.as_ref()).await;
        assert_eq!(
            (theirs.status, theirs.code()),
            (404, Some("RES_001")),
            "{method}"
        );
        // Indistinguishable from an id that does not exist: same status, body and headers
        // apart from the request id.
        let strip = |mut v: serde_json::Value| {
            v["error"]["request_id"] = json!(null);
            v
        };
        assert_eq!(
            strip(theirs.body.clone()),
            strip(missing.body.clone()),
            "{method}"
        );
        let names = |r: &crate::documents::support::Reply| {
            let mut names: Vec<String> = r.headers.keys().map(|k| k.to_string()).collect();
            names.sort();
            names
        };
        assert_eq!(names(&theirs), names(&missing), "{method}");
        let events = w.events_of_request(&theirs.request_id()).await;
        assert_eq!(events.len(), 1, "{method}: the attempt is audited");
        assert_eq!(
            (events[0].tenant_id, events[0].outcome.as_str()),
            (tenant_b, "denied"),
            "{method}: in the caller's own tenant"
        );
    }

    let after = w.get(&path, &alice).await;
    assert_eq!(after.body, doc, "unchanged");
    assert_eq!(w.list_all(&alice, "").await.len(), 1);
    assert!(w.list_all(&bob, "").await.is_empty());
    let tenant_a = w.tenant_id("org-a").await;
    let leaked: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where tenant_id = $1 and actor_subject = 'bob'",
    )
    .bind(tenant_a)
    .fetch_one(&w.pool)
    .await
    .unwrap();
    assert_eq!(leaked, 0, "B's attempts never land in A's trail");
}
