//! A change and its audit event commit together or not at all. The failure is real: the test adds
//! a CHECK constraint to audit_events (as the superuser) that refuses events carrying a marker
//! user agent, so the request's data write succeeds and the audit insert after it fails.

use reqwest::Method;
use serde_json::json;

use super::support::{World, new_doc};

const REFUSED_AGENT: &str = "e2e-refuse-audit";

async fn refuse_marked_events(w: &World) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "alter table audit_events add constraint e2e_refuse_marked \
         check (user_agent is distinct from '{REFUSED_AGENT}') not valid"
    )))
    .execute(&w.pool)
    .await
    .expect("add the constraint");
}

#[tokio::test]
async fn a_write_whose_audit_event_fails_leaves_neither_the_change_nor_an_event() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let doc = w.create(&editor, &new_doc("Before")).await;
    let path = format!("/api/v1/documents/{}", doc["id"].as_str().unwrap());
    refuse_marked_events(&w).await;
    let events_before = w.count("select count(*) from audit_events").await;

    let marked =
        |method: Method, target: &str| w.request_as(method, target, &editor, REFUSED_AGENT);
    let create = World::send(marked(Method::POST, "/api/v1/documents").json(&new_doc("New"))).await;
    let keyed = World::send(
        marked(Method::POST, "/api/v1/documents")
            .header("idempotency-key", "retry-me")
            .json(&new_doc("Keyed")),
    )
    .await;
    let update = World::send(marked(Method::PATCH, &path).json(&json!({"title": "After"}))).await;
    let delete = World::send(marked(Method::DELETE, &path)).await;
    for (name, reply) in [
        ("create", &create),
        ("keyed create", &keyed),
        ("update", &update),
        ("delete", &delete),
    ] {
        assert_eq!(
            (reply.status, reply.code()),
            (500, Some("SYS_003")),
            "{name}: {:?}",
            reply.body
        );
        let text = reply.body.to_string();
        assert!(
            !text.contains("e2e_refuse_marked"),
            "{name}: internal detail leaked"
        );
        assert!(w.events_of_request(&reply.request_id()).await.is_empty());
    }

    assert_eq!(
        w.count("select count(*) from documents").await,
        1,
        "no new document"
    );
    assert_eq!(
        w.count("select count(*) from idempotency_keys").await,
        0,
        "the key claimed before the failure was rolled back too"
    );
    assert_eq!(
        w.count("select count(*) from audit_events").await,
        events_before
    );
    let after = w.get(&path, &editor).await;
    assert_eq!(after.status, 200, "the delete was rolled back");
    assert_eq!(after.body["title"], "Before", "the update was rolled back");
    assert_eq!(after.body["updated_at"], doc["updated_at"]);

    // The key is free again: a retry without the marker creates the document.
    let retry = World::send(
        w.request(Method::POST, "/api/v1/documents", &editor)
            .header("idempotency-key", "retry-me")
            .json(&new_doc("Keyed")),
    )
    .await;
    assert_eq!(retry.status, 201);
    assert!(retry.headers.get("idempotent-replayed").is_none());
}
