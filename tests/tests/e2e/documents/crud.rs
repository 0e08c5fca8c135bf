//! Create, read, list, update and delete, the role rules, and the audit event of each request.

use reqwest::Method;
use serde_json::json;

use super::support::{USER_AGENT, World, new_doc};

#[tokio::test]
async fn an_editor_creates_reads_lists_updates_and_soft_deletes_a_document() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let reply = w
        .call(
            Method::POST,
            "/api/v1/documents",
            &editor,
            Some(&new_doc("Intake form")),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let doc = reply.body.clone();
    let id = doc["id"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.headers["location"].to_str().unwrap(),
        format!("/api/v1/documents/{id}")
    );
    assert_eq!(doc["title"], "Intake form");
    assert_eq!(doc["status"], "pending", "the default status");
    assert_eq!(doc["metadata"], json!({"pages": 3, "source": "scanner"}));
    assert_eq!(doc["storage_location"], json!(null));
    assert_eq!(doc["tenant_id"], w.tenant_id("org-1").await.to_string());

    let read = w.get(&format!("/api/v1/documents/{id}"), &editor).await;
    assert_eq!((read.status, &read.body), (200, &doc));

    let list = w.get("/api/v1/documents", &editor).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["items"], json!([doc]));
    assert_eq!(list.body["next_cursor"], json!(null));

    let patch = json!({"title": "Intake form (signed)", "status": "ready",
                       "storage_location": "s3://bucket/intake.pdf"});
    let updated = w
        .call(
            Method::PATCH,
            &format!("/api/v1/documents/{id}"),
            &editor,
            Some(&patch),
        )
        .await;
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    assert_eq!(updated.body["title"], "Intake form (signed)");
    assert_eq!(updated.body["status"], "ready");
    assert_eq!(updated.body["storage_location"], "s3://bucket/intake.pdf");
    assert_eq!(
        updated.body["filename"], "scan.pdf",
        "untouched fields stay"
    );
    let cleared = w
        .call(
            Method::PATCH,
            &format!("/api/v1/documents/{id}"),
            &editor,
            Some(&json!({"storage_location": null})),
        )
        .await;
    assert_eq!(cleared.body["storage_location"], json!(null));

    let deleted = w
        .call(
            Method::DELETE,
            &format!("/api/v1/documents/{id}"),
            &editor,
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    for method in [Method::GET, Method::DELETE] {
        let gone = w
            .call(
                method.clone(),
                &format!("/api/v1/documents/{id}"),
                &editor,
                None,
            )
            .await;
        assert_eq!(
            (gone.status, gone.code()),
            (404, Some("RES_001")),
            "{method}"
        );
    }
    let list = w.get("/api/v1/documents", &editor).await;
    assert_eq!(list.body["items"], json!([]));
    let kept: i64 = w
        .count(&format!(
            "select count(*) from documents where id = '{id}' and deleted_at is not null"
        ))
        .await;
    assert_eq!(kept, 1, "a delete is soft: the row stays, marked deleted");
}

#[tokio::test]
async fn a_viewer_reads_but_cannot_write_and_every_refusal_is_audited() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let viewer = w.token("org-1", "vic", &["viewer"]).await;
    let auditor = w.token("org-1", "aud", &["auditor"]).await;
    let doc = w.create(&editor, &new_doc("Lab results")).await;
    let path = format!("/api/v1/documents/{}", doc["id"].as_str().unwrap());

    assert_eq!(w.get(&path, &viewer).await.status, 200);
    assert_eq!(w.get("/api/v1/documents", &viewer).await.status, 200);

    let attempts = [
        (
            Method::POST,
            "/api/v1/documents".to_owned(),
            Some(new_doc("x")),
            "document.create",
            &viewer,
        ),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({"title": "y"})),
            "document.update",
            &viewer,
        ),
        (
            Method::DELETE,
            path.clone(),
            None,
            "document.delete",
            &viewer,
        ),
        (Method::GET, path.clone(), None, "document.read", &auditor),
        (
            Method::GET,
            "/api/v1/documents".to_owned(),
            None,
            "document.list",
            &auditor,
        ),
    ];
    for (method, target, body, action, token) in attempts {
        let reply = w.call(method.clone(), &target, token, body.as_ref()).await;
        assert_eq!(
            (reply.status, reply.code()),
            (403, Some("AUTH_009")),
            "{method} {target}"
        );
        let events = w.events_of_request(&reply.request_id()).await;
        assert_eq!(events.len(), 1, "{method} {target}: one event");
        assert_eq!(
            (events[0].action.as_str(), events[0].outcome.as_str()),
            (action, "denied")
        );
    }
    let unchanged = w.get(&path, &editor).await;
    assert_eq!(unchanged.body["title"], "Lab results");
    assert_eq!(w.count("select count(*) from documents").await, 1);
}

#[tokio::test]
async fn each_audited_request_writes_exactly_one_event_with_who_what_and_from_where() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let me = w.get("/api/v1/me", &editor).await.body;
    let tenant = w.tenant_id("org-1").await;
    let create = w
        .call(
            Method::POST,
            "/api/v1/documents",
            &editor,
            Some(&new_doc("A")),
        )
        .await;
    let id = create.body["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/documents/{id}");
    let read = w
        .request(Method::GET, &path, &editor)
        .header("x-request-id", "client-chosen-id-42");
    let read = World::send(read).await;
    // The server's own id answers; the client's is kept apart in the audit event.
    assert_ne!(read.request_id(), "client-chosen-id-42");
    let client_id: Option<String> =
        sqlx::query_scalar("select client_request_id from audit_events where request_id = $1")
            .bind(read.request_id())
            .fetch_one(&w.pool)
            .await
            .unwrap();
    assert_eq!(client_id.as_deref(), Some("client-chosen-id-42"));
    let list = w.get("/api/v1/documents?limit=5", &editor).await;
    let update = w
        .call(
            Method::PATCH,
            &path,
            &editor,
            Some(&json!({"size_bytes": 7})),
        )
        .await;
    let delete = w.call(Method::DELETE, &path, &editor, None).await;
    let missing = w.get(&path, &editor).await;

    let cases = [
        (
            &create,
            "document.create",
            Some(id.as_str()),
            "success",
            201,
        ),
        (&read, "document.read", Some(id.as_str()), "success", 200),
        (&list, "document.list", None, "success", 200),
        (
            &update,
            "document.update",
            Some(id.as_str()),
            "success",
            200,
        ),
        (
            &delete,
            "document.delete",
            Some(id.as_str()),
            "success",
            204,
        ),
        (&missing, "document.read", Some(id.as_str()), "denied", 404),
    ];
    for (reply, action, resource_id, outcome, status) in cases {
        assert_eq!(reply.status, status, "{action}: {:?}", reply.body);
        let events = w.events_of_request(&reply.request_id()).await;
        assert_eq!(events.len(), 1, "{action}: exactly one event");
        let e = &events[0];
        assert_eq!(e.tenant_id, tenant);
        assert_eq!(
            e.actor_user_id.map(|u| u.to_string()).as_deref(),
            me["user_id"].as_str()
        );
        assert_eq!(e.actor_subject.as_deref(), Some("erin"));
        assert_eq!(e.action, action);
        assert_eq!(e.resource_type, "document");
        assert_eq!(e.resource_id.as_deref(), resource_id, "{action}");
        assert_eq!(e.outcome, outcome, "{action}");
        assert_eq!(e.request_id.as_deref(), Some(reply.request_id().as_str()));
        assert_eq!(e.client_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(e.user_agent.as_deref(), Some(USER_AGENT));
    }
    let events = w.events_of_request(&update.request_id()).await;
    assert_eq!(
        events[0].changed_fields,
        Some(vec!["size_bytes".to_owned()])
    );
}

#[tokio::test]
async fn an_update_records_the_changed_field_names_and_never_their_values() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let doc = w.create(&editor, &new_doc("Routine")).await;
    let path = format!("/api/v1/documents/{}", doc["id"].as_str().unwrap());
    let patch = json!({
        "title": "Diagnosis ZEBRA-7731",
        "metadata": {"note": "secret-value-QX9"},
        "size_bytes": 1024,
        "filename": "scan.pdf"
    });
    let reply = w.call(Method::PATCH, &path, &editor, Some(&patch)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let events = w.events_of_request(&reply.request_id()).await;
    assert_eq!(
        events[0].changed_fields,
        Some(vec!["title".to_owned(), "metadata".to_owned()]),
        "only fields whose value changed, by name"
    );
    let stored: String =
        sqlx::query_scalar("select to_jsonb(a)::text from audit_events a where request_id = $1")
            .bind(reply.request_id())
            .fetch_one(&w.pool)
            .await
            .unwrap();
    for value in ["ZEBRA-7731", "secret-value-QX9", "Routine"] {
        assert!(!stored.contains(value), "{value} leaked into {stored}");
    }
}
