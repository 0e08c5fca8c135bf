//! Strict input: every malformed body, parameter or id is refused in the envelope, naming the
//! field, and creates or changes nothing.

use reqwest::Method;
use serde_json::{Value, json};

use super::support::{Reply, World, new_doc};

fn with(field: &str, value: Value) -> Value {
    let mut body = new_doc("Valid title");
    body[field] = value;
    body
}

fn assert_invalid(reply: &Reply, field: &str, case: &str) {
    assert_eq!(
        (reply.status, reply.code()),
        (422, Some("VAL_001")),
        "{case}: {:?}",
        reply.body
    );
    let details = reply.body["error"]["details"].as_array().expect("details");
    assert!(
        details.iter().any(|d| d["field"] == field),
        "{case}: no detail for {field} in {details:?}"
    );
    assert_eq!(
        reply.body["error"]["request_id"].as_str(),
        Some(reply.request_id().as_str())
    );
}

#[tokio::test]
async fn bad_create_bodies_are_422_with_a_detail_per_field_and_create_nothing() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let mut missing_title = new_doc("x");
    missing_title.as_object_mut().unwrap().remove("title");
    let cases: Vec<(&str, Value, &str)> = vec![
        ("unknown field", with("colour", json!("red")), "colour"),
        ("wrong type", with("title", json!(5)), "title"),
        ("missing title", missing_title, "title"),
        ("empty title", with("title", json!("")), "title"),
        ("blank title", with("title", json!("   ")), "title"),
        (
            "title too long",
            with("title", json!("t".repeat(501))),
            "title",
        ),
        ("negative size", with("size_bytes", json!(-1)), "size_bytes"),
        (
            "size not an integer",
            with("size_bytes", json!(1.5)),
            "size_bytes",
        ),
        (
            "size out of i64",
            with("size_bytes", json!(1e30)),
            "size_bytes",
        ),
        (
            "path as filename",
            with("filename", json!("../../etc/passwd")),
            "filename",
        ),
        (
            "filename too long",
            with("filename", json!("f".repeat(256))),
            "filename",
        ),
        (
            "not a media type",
            with("content_type", json!("pdf")),
            "content_type",
        ),
        (
            "unknown status",
            with("status", json!("shredded")),
            "status",
        ),
        (
            "metadata not an object",
            with("metadata", json!([1, 2])),
            "metadata",
        ),
        (
            "metadata too big",
            with("metadata", json!({"k": "v".repeat(70_000)})),
            "metadata",
        ),
        (
            "NUL in metadata",
            with("metadata", json!({"k": "a\u{0}b"})),
            "metadata",
        ),
        (
            "empty storage location",
            with("storage_location", json!("")),
            "storage_location",
        ),
        (
            "control character",
            with("title", json!("a\u{7}b")),
            "title",
        ),
    ];
    for (case, body, field) in cases {
        let reply = w
            .call(Method::POST, "/api/v1/documents", &editor, Some(&body))
            .await;
        assert_invalid(&reply, field, case);
    }
    let long_key = w
        .request(Method::POST, "/api/v1/documents", &editor)
        .header("idempotency-key", "k".repeat(256))
        .json(&new_doc("x"));
    assert_invalid(&World::send(long_key).await, "Idempotency-Key", "long key");

    let not_json = w
        .request(Method::POST, "/api/v1/documents", &editor)
        .header("content-type", "application/json")
        .body("{\"title\": ");
    let reply = World::send(not_json).await;
    assert_eq!((reply.status, reply.code()), (400, Some("REQ_005")));
    let no_type = w
        .request(Method::POST, "/api/v1/documents", &editor)
        .body(new_doc("x").to_string());
    let reply = World::send(no_type).await;
    assert_eq!((reply.status, reply.code()), (415, Some("REQ_003")));
    assert_eq!(w.count("select count(*) from documents").await, 0);
    assert_eq!(w.count("select count(*) from idempotency_keys").await, 0);
}

#[tokio::test]
async fn bad_patches_are_422_and_change_nothing() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let doc = w.create(&editor, &new_doc("Original")).await;
    let path = format!("/api/v1/documents/{}", doc["id"].as_str().unwrap());
    let cases: Vec<(&str, Value, &str)> = vec![
        ("empty patch", json!({}), "body"),
        ("null title", json!({"title": null}), "title"),
        ("null status", json!({"status": null}), "status"),
        (
            "unknown field",
            json!({"tenant_id": "00000000-0000-0000-0000-000000000000"}),
            "tenant_id",
        ),
        ("negative size", json!({"size_bytes": -5}), "size_bytes"),
        ("empty title", json!({"title": ""}), "title"),
        ("wrong type", json!({"metadata": "text"}), "metadata"),
    ];
    for (case, body, field) in cases {
        let reply = w.call(Method::PATCH, &path, &editor, Some(&body)).await;
        assert_invalid(&reply, field, case);
    }
    let after = w.get(&path, &editor).await;
    assert_eq!(after.body, doc, "nothing changed");
}

#[tokio::test]
async fn bad_list_parameters_are_422_naming_the_parameter() {
    let w = World::start(&["org-1"]).await;
    let viewer = w.token("org-1", "vic", &["viewer"]).await;
    let cases = [
        ("cursor=not-a-cursor", "cursor"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("status=shredded", "status"),
        ("created_from=yesterday", "created_from"),
        ("created_to=2026-13-45T00:00:00Z", "created_to"),
        ("colour=red", "colour"),
    ];
    for (query, field) in cases {
        let reply = w.get(&format!("/api/v1/documents?{query}"), &viewer).await;
        assert_invalid(&reply, field, query);
    }
    for good in ["limit=1", "limit=100", "created_from=2020-01-01T00:00:00Z"] {
        let reply = w.get(&format!("/api/v1/documents?{good}"), &viewer).await;
        assert_eq!(reply.status, 200, "{good}: {:?}", reply.body);
    }
}

#[tokio::test]
async fn path_ids_that_are_not_uuids_are_404_in_the_envelope_and_audited() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    for (method, id) in [
        (Method::GET, "42"),
        (Method::GET, "not-a-uuid"),
        (Method::PATCH, "..%2F..%2Fetc"),
        (Method::DELETE, "%FF%FE"),
        (Method::GET, "a%00b"),
        (Method::GET, "00000000-0000-0000-0000-00000000000g"),
    ] {
        let body = json!({"title": "x"});
        let reply = w
            .call(
                method.clone(),
                &format!("/api/v1/documents/{id}"),
                &editor,
                (method == Method::PATCH).then_some(&body),
            )
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (404, Some("RES_001")),
            "{method} {id}: {:?}",
            reply.body
        );
        let events = w.events_of_request(&reply.request_id()).await;
        assert_eq!(events.len(), 1, "{method} {id}");
        assert_eq!(events[0].outcome, "denied");
    }
}
