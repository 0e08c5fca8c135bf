//! Emergency ("break-glass") access: it can read, it cannot write, and every use is flagged in
//! the audit trail, where reviewers can list it.

use reqwest::Method;
use serde_json::json;

use super::support::{World, new_doc};

#[tokio::test]
async fn break_glass_access_reads_documents_and_every_use_is_flagged_in_the_audit_trail() {
    let world = World::start(&["org-er"]).await;
    let editor = world.token("org-er", "dr-regular", &["editor"]).await;
    let emergency = world.token("org-er", "dr-oncall", &["break_glass"]).await;
    let auditor = world.token("org-er", "auditor-1", &["auditor"]).await;
    let doc = world.create(&editor, &new_doc("chart")).await;
    let path = format!("/api/v1/documents/{}", doc["id"].as_str().unwrap());

    let read = world.get(&path, &emergency).await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    let write = world
        .call(
            Method::PATCH,
            &path,
            &emergency,
            Some(&json!({"title": "x"})),
        )
        .await;
    assert_eq!(
        (write.status, write.code()),
        (403, Some("AUTH_009")),
        "break-glass never writes"
    );
    let regular = world.get(&path, &editor).await;
    assert_eq!(regular.status, 200);

    let flagged: Vec<(String, String, bool)> = sqlx::query_as(
        "select actor_subject, outcome, emergency from audit_events where request_id = any($1) order by outcome",
    )
    .bind(vec![read.request_id(), write.request_id(), regular.request_id()])
    .fetch_all(&world.pool)
    .await
    .unwrap();
    assert_eq!(
        flagged,
        vec![
            ("dr-oncall".to_owned(), "denied".to_owned(), true),
            ("dr-oncall".to_owned(), "success".to_owned(), true),
            ("dr-regular".to_owned(), "success".to_owned(), false),
        ]
    );

    let review = world
        .get("/api/v1/audit-events?emergency=true", &auditor)
        .await;
    assert_eq!(review.status, 200, "{:?}", review.body);
    let items = review.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(
        items
            .iter()
            .all(|e| e["emergency"] == true && e["actor_subject"] == "dr-oncall")
    );
    let bad = world
        .get("/api/v1/audit-events?emergency=maybe", &auditor)
        .await;
    assert_eq!((bad.status, bad.code()), (422, Some("VAL_001")));
}

#[tokio::test]
async fn the_emergency_flag_is_covered_by_the_hash_chain() {
    let world = World::start(&["org-er2"]).await;
    let editor = world
        .token("org-er2", "dr-regular", &["editor", "admin"])
        .await;
    let emergency = world.token("org-er2", "dr-oncall", &["break_glass"]).await;
    let doc = world.create(&editor, &new_doc("chart")).await;
    let read = world
        .get(
            &format!("/api/v1/documents/{}", doc["id"].as_str().unwrap()),
            &emergency,
        )
        .await;
    assert_eq!(read.status, 200);
    haven_db::audit_chain::seal_pending(&world.pool, 1000)
        .await
        .unwrap();
    let ok = world.get("/api/v1/audit-events/verify", &editor).await;
    assert_eq!(ok.body["ok"], true, "{:?}", ok.body);

    // Hiding an emergency access after the fact (as a superuser bypassing the trigger) is caught.
    sqlx::raw_sql(
        "alter table audit_events disable trigger user; \
         update audit_events set emergency = false where emergency; \
         alter table audit_events enable trigger user;",
    )
    .execute(&world.pool)
    .await
    .unwrap();
    // The event is in the range the first check verified: a full check reads it again.
    let broken = world
        .get("/api/v1/audit-events/verify?full=true", &editor)
        .await;
    assert_eq!(broken.body["ok"], false, "{:?}", broken.body);
}
