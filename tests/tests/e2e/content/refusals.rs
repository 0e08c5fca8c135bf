//! Every bad path of the content endpoints: its documented status and code, nothing left
//! half-done (a refused object is deleted, a recoverable document stays pending), and an audit
//! event for each attempt.

use reqwest::Method;
use serde_json::{Value, json};

use super::support::{file_doc, key, put, sha256, start};
use crate::documents::support::World;

const PDF: &[u8] = b"%PDF-1.7 ten bytes";

fn fields(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|p| p["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn bad_upload_declarations_are_refused_with_422_per_field_and_create_nothing() {
    let s = start(&["org-1"], &[("STORAGE_MAX_UPLOAD_BYTES", "1000")]).await;
    let editor = s.w.token("org-1", "erin", &["editor"]).await;
    let with = |field: &str, value: Value| {
        let mut body = file_doc("a.pdf", "application/pdf", PDF);
        body[field] = value;
        body
    };
    for (body, field) in [
        (with("size_bytes", json!(0)), "size_bytes"),
        (with("size_bytes", json!(-5)), "size_bytes"),
        (with("size_bytes", json!(1001)), "size_bytes"),
        (with("sha256", json!("not base64!")), "sha256"),
        (with("sha256", json!(hex_sha())), "sha256"),
        (with("content_type", json!("text/html")), "content_type"),
        (with("status", json!("ready")), "status"),
        (
            with("content_type", json!("application/x-msdownload")),
            "content_type",
        ),
        (
            with("storage_location", json!("tenants/x/documents/y")),
            "storage_location",
        ),
    ] {
        let reply =
            s.w.call(Method::POST, "/api/v1/documents", &editor, Some(&body))
                .await;
        assert_eq!(reply.status, 422, "{field}: {:?}", reply.body);
        assert_eq!(reply.code(), Some("VAL_001"));
        assert!(
            fields(&reply.body).contains(&field.to_owned()),
            "{:?}",
            reply.body
        );
    }
    assert_eq!(s.w.count("select count(*) from documents").await, 0);
    assert!(s.store.keys().await.is_empty());
}

fn hex_sha() -> String {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_owned()
}

#[tokio::test]
async fn each_object_that_breaks_its_promise_fails_completion_and_is_deleted() {
    let s = start(&["org-1"], &[]).await;
    let editor = s.w.token("org-1", "erin", &["editor"]).await;
    let tenant = s.w.tenant_id("org-1").await;
    let wrong_key = s
        .store
        .key_arn
        .replace(&s.store.key_id, "00000000-0000-0000-0000-000000000000");
    let key_id = Some(s.store.key_id.as_str());
    let eleven: &[u8] = b"%PDF-1.7 eleven bytes";
    // What is stored (bytes, content type, KMS key), then the reason and field it must get.
    let cases = [
        (
            eleven,
            "application/pdf",
            key_id,
            "size_mismatch",
            "size_bytes",
        ),
        (
            PDF,
            "text/plain",
            key_id,
            "content_type_mismatch",
            "content_type",
        ),
        (PDF, "application/pdf", None, "not_encrypted", "encryption"),
        (
            PDF,
            "application/pdf",
            Some(wrong_key.as_str()),
            "wrong_kms_key",
            "encryption",
        ),
    ];
    for (bytes, content_type, kms, reason, field) in cases {
        let created =
            s.w.create(&editor, &file_doc("a.pdf", "application/pdf", PDF))
                .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let object = key(tenant, &id);
        s.store.put(&object, bytes, content_type, kms).await;
        for _ in 0..2 {
            // The second call answers the same: idempotent.
            let reply = s.complete(&editor, &id).await;
            assert_eq!(reply.status, 422, "{reason}: {:?}", reply.body);
            assert_eq!(reply.code(), Some("UPLOAD_002"));
            assert_eq!(reply.body["error"]["details"][0]["field"], field);
            assert_eq!(reply.body["error"]["details"][0]["message"], reason);
        }
        assert!(
            s.store.head(&object).await.is_none(),
            "{reason}: no object is left"
        );
        let read = s.w.get(&format!("/api/v1/documents/{id}"), &editor).await;
        assert_eq!(read.body["status"], "failed");
        let outcomes = s.outcomes("document.upload", &id).await;
        assert_eq!(outcomes, ["denied", "denied"], "{reason}");
        let reissue =
            s.w.call(
                Method::POST,
                &format!("/api/v1/documents/{id}/upload-url"),
                &editor,
                None,
            )
            .await;
        assert_eq!((reissue.status, reissue.code()), (409, Some("UPLOAD_001")));
    }
}

#[tokio::test]
async fn completing_or_downloading_before_the_upload_is_409_and_the_document_recovers() {
    let s = start(&["org-1"], &[]).await;
    let editor = s.w.token("org-1", "erin", &["editor"]).await;
    let created =
        s.w.create(&editor, &file_doc("a.pdf", "application/pdf", PDF))
            .await;
    let id = created["id"].as_str().unwrap().to_owned();

    let early = s.complete(&editor, &id).await;
    assert_eq!(
        (early.status, early.code()),
        (409, Some("UPLOAD_003")),
        "{:?}",
        early.body
    );
    let pending = s.content(&editor, &id, "").await;
    assert_eq!((pending.status, pending.code()), (409, Some("CONTENT_001")));
    let read = s.w.get(&format!("/api/v1/documents/{id}"), &editor).await;
    assert_eq!(read.body["status"], "pending", "nothing is stuck");

    // A fresh URL while pending, then the upload and completion go through.
    let path = format!("/api/v1/documents/{id}/upload-url");
    let reissued = s.w.call(Method::POST, &path, &editor, None).await;
    assert_eq!(reissued.status, 200, "{:?}", reissued.body);
    assert_eq!(
        reissued.body["headers"]["x-amz-checksum-sha256"],
        sha256(PDF)
    );
    assert_eq!(put(&reissued.body, PDF).await, 200);
    assert_eq!(s.complete(&editor, &id).await.status, 200);
    let after = s.w.call(Method::POST, &path, &editor, None).await;
    assert_eq!((after.status, after.code()), (409, Some("UPLOAD_001")));

    assert_eq!(
        s.outcomes("document.upload", &id).await,
        ["denied", "success"]
    );
    assert_eq!(s.outcomes("document.download", &id).await, ["denied"]);
    assert_eq!(
        s.outcomes("document.upload_url", &id).await,
        ["success", "denied"]
    );
}

#[tokio::test]
async fn another_tenants_document_is_404_on_every_content_endpoint_and_audited_as_denied() {
    let s = start(&["org-a", "org-b"], &[]).await;
    let alice = s.w.token("org-a", "alice", &["editor"]).await;
    let bob = s.w.token("org-b", "bob", &["admin"]).await;
    let created =
        s.w.create(&alice, &file_doc("a.pdf", "application/pdf", PDF))
            .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(put(&created["upload"], PDF).await, 200);
    assert_eq!(s.complete(&alice, &id).await.status, 200);
    let tenant_b = s.w.tenant_id("org-b").await;
    for (method, path) in [
        (Method::POST, format!("/api/v1/documents/{id}/upload-url")),
        (Method::POST, format!("/api/v1/documents/{id}/complete")),
        (Method::GET, format!("/api/v1/documents/{id}/content")),
        (
            Method::GET,
            format!("/api/v1/documents/{id}/content?redirect=false"),
        ),
    ] {
        let reply = s.w.call(method, &path, &bob, None).await;
        assert_eq!(
            (reply.status, reply.code()),
            (404, Some("RES_001")),
            "{path}"
        );
        let events = s.w.events_of_request(&reply.request_id()).await;
        assert_eq!(events.len(), 1, "{path}");
        assert_eq!(events[0].outcome, "denied");
        assert_eq!(
            events[0].tenant_id, tenant_b,
            "recorded in the caller's own tenant"
        );
    }
    // Alice still gets her file; nothing of hers changed.
    assert_eq!(s.content(&alice, &id, "").await.status, 303);
}

#[tokio::test]
async fn client_values_cannot_steer_an_upload_to_another_object() {
    let s = start(&["org-a", "org-b"], &[]).await;
    let alice = s.w.token("org-a", "alice", &["editor"]).await;
    let tenant_a = s.w.tenant_id("org-a").await;
    let tenant_b = s.w.tenant_id("org-b").await;
    let sneaky = format!("..%2F..%2Ftenants%2F{tenant_b}%2Fdocuments%2Fx..pdf");
    let created =
        s.w.create(&alice, &file_doc(&sneaky, "application/pdf", PDF))
            .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["storage_location"], key(tenant_a, &id));
    let url = url::Url::parse(created["upload"]["url"].as_str().unwrap()).unwrap();
    assert!(url.path().ends_with(&key(tenant_a, &id)), "{url}");
    assert!(!url.as_str().contains(&tenant_b.to_string()), "{url}");
    assert_eq!(put(&created["upload"], PDF).await, 200);
    assert_eq!(s.store.keys().await, [key(tenant_a, &id)]);
    assert_eq!(s.complete(&alice, &id).await.status, 200);
    // The download disposition carries the name, made harmless, not a path.
    let link = s.content(&alice, &id, "?redirect=false").await;
    let disposition: String = url::Url::parse(link.body["url"].as_str().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "response-content-disposition")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\""),
        "{disposition}"
    );
    assert!(!disposition.contains('/'), "{disposition}");
    // A PATCH cannot move it either.
    let patch = json!({"storage_location": key(tenant_b, &id)});
    let refused =
        s.w.call(
            Method::PATCH,
            &format!("/api/v1/documents/{id}"),
            &alice,
            Some(&patch),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(s.store.keys().await, [key(tenant_a, &id)]);
}

#[tokio::test]
async fn without_a_bucket_the_content_endpoints_answer_503_storage_001_and_the_rest_works() {
    let w = World::start(&["org-1"]).await;
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let plain = w
        .create(
            &editor,
            &json!({"title": "t", "filename": "a.pdf",
        "content_type": "application/pdf"}),
        )
        .await;
    assert!(plain.get("upload").is_none(), "{plain}");
    let id = plain["id"].as_str().unwrap();
    let with_file = w
        .call(
            Method::POST,
            "/api/v1/documents",
            &editor,
            Some(&file_doc("a.pdf", "application/pdf", PDF)),
        )
        .await;
    for reply in [
        with_file,
        w.call(
            Method::GET,
            &format!("/api/v1/documents/{id}/content"),
            &editor,
            None,
        )
        .await,
        w.call(
            Method::POST,
            &format!("/api/v1/documents/{id}/complete"),
            &editor,
            None,
        )
        .await,
    ] {
        assert_eq!(
            (reply.status, reply.code()),
            (503, Some("STORAGE_001")),
            "{:?}",
            reply.body
        );
        assert!(reply.headers.contains_key("retry-after"));
        // Recorded as a failed attempt, not lost.
        let events = w.events_of_request(&reply.request_id()).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].outcome, "error");
    }
    assert_eq!(w.count("select count(*) from documents").await, 1);
    let ready = w.app.get("/api/v1/health/ready").await;
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["storage"], "not_configured");
}

#[tokio::test]
async fn a_storage_outage_is_503_storage_002_with_retry_after_and_readiness_stays_200() {
    let down = haven_tests::ClosingEndpoint::start();
    let url = down.url();
    let s = start(
        &["org-1"],
        &[
            ("AWS_ENDPOINT_URL_S3", &url),
            ("STORAGE_TIMEOUT_SECONDS", "1"),
        ],
    )
    .await;
    let editor = s.w.token("org-1", "erin", &["editor"]).await;
    // Issuing the upload URL needs no store: presigning is local.
    let created =
        s.w.create(&editor, &file_doc("a.pdf", "application/pdf", PDF))
            .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(created["upload"]["url"].as_str().unwrap().starts_with(&url));
    let reply = s.complete(&editor, &id).await;
    assert_eq!(
        (reply.status, reply.code()),
        (503, Some("STORAGE_002")),
        "{:?}",
        reply.body
    );
    assert_eq!(reply.headers["retry-after"], "5");
    let read = s.w.get(&format!("/api/v1/documents/{id}"), &editor).await;
    assert_eq!(read.body["status"], "pending", "retry after the outage");
    let outcomes = s.outcomes("document.upload", &id).await;
    assert_eq!(outcomes, ["error"]);
    let ready = s.w.app.get("/api/v1/health/ready").await;
    assert_eq!(
        ready.status(),
        200,
        "a storage outage does not take replicas out"
    );
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["storage"], "unavailable");
}
