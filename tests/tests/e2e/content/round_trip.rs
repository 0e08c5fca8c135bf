//! The whole flow with plain HTTP clients: create, PUT to S3, complete, download, identical
//! bytes; what the presigned URLs sign; the stored object's encryption; one audit event per URL.

use std::collections::HashMap;

use serde_json::json;

use super::support::{file_doc, key, plain, put, sha256, start};

fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .expect("a URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test]
async fn a_file_goes_up_to_the_bucket_encrypted_and_comes_back_identical() {
    let s = start(&["org-1"], &[]).await;
    let editor = s.w.token("org-1", "erin", &["editor"]).await;
    let bytes = b"%PDF-1.7 lab result: potassium 4.1 mmol/L".to_vec();
    let created =
        s.w.create(
            &editor,
            &file_doc("Befund Müller.pdf", "application/pdf", &bytes),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let tenant = s.w.tenant_id("org-1").await;
    assert_eq!(created["status"], "pending");
    assert_eq!(created["storage_location"], key(tenant, &id));

    // What the PUT URL signs: S3 enforces each signed header, and the lifetime.
    let upload = &created["upload"];
    assert_eq!(upload["method"], "PUT");
    let params = query(upload["url"].as_str().unwrap());
    assert_eq!(params["X-Amz-Expires"], "900", "the default 15 minutes");
    let signed: Vec<&str> = params["X-Amz-SignedHeaders"].split(';').collect();
    for header in [
        "content-type",
        "content-length",
        "x-amz-checksum-sha256",
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
        "x-amz-server-side-encryption-context",
    ] {
        assert!(signed.contains(&header), "{header} not in {signed:?}");
        assert!(upload["headers"][header].is_string(), "{header}: {upload}");
    }
    assert_eq!(upload["headers"]["x-amz-checksum-sha256"], sha256(&bytes));
    assert_eq!(upload["headers"]["content-length"], bytes.len().to_string());
    let context = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        upload["headers"]["x-amz-server-side-encryption-context"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    let context: serde_json::Value = serde_json::from_slice(&context).unwrap();
    assert_eq!(
        context,
        json!({"haven:tenant_id": tenant.to_string(), "haven:document_id": id})
    );
    assert!(
        url::Url::parse(upload["url"].as_str().unwrap())
            .unwrap()
            .path()
            .ends_with(&key(tenant, &id))
    );

    assert_eq!(put(upload, &bytes).await, 200);
    let head = s.store.head(&key(tenant, &id)).await.expect("stored");
    assert_eq!(
        head.server_side_encryption().map(|e| e.as_str()),
        Some("aws:kms")
    );
    let stored_key = head.ssekms_key_id().unwrap_or_default();
    assert!(
        stored_key == s.store.key_id || stored_key == s.store.key_arn,
        "{stored_key}"
    );

    let done = s.complete(&editor, &id).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert_eq!(done.body["status"], "ready");
    let again = s.complete(&editor, &id).await;
    assert_eq!((again.status, &again.body), (200, &done.body), "idempotent");
    let read = s.w.get(&format!("/api/v1/documents/{id}"), &editor).await;
    assert_eq!(read.body["status"], "ready");

    // The redirect: a 303 to a presigned GET a plain client can follow.
    let viewer = s.w.token("org-1", "vera", &["viewer"]).await;
    let redirect = s.content(&viewer, &id, "").await;
    assert_eq!(redirect.status, 303, "{:?}", redirect.body);
    assert_eq!(redirect.headers["cache-control"], "no-store");
    let location = redirect.headers["location"].to_str().unwrap().to_owned();
    let params = query(&location);
    assert_eq!(params["X-Amz-Expires"], "300", "the default 5 minutes");
    assert_eq!(
        params["response-content-disposition"],
        "attachment; filename=\"Befund M_ller.pdf\"; filename*=UTF-8''Befund%20M%C3%BCller.pdf"
    );
    let fetched = plain().get(&location).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), bytes);

    // Without the redirect: the URL as JSON.
    let link = s.content(&viewer, &id, "?redirect=false").await;
    assert_eq!(link.status, 200, "{:?}", link.body);
    assert_eq!(link.body["method"], "GET");
    assert!(link.body["expires_at"].is_string());
    let fetched = plain()
        .get(link.body["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), bytes);

    // Exactly one document.download per URL issued, each with its request's id.
    let downloads = s.events("document.download", &id).await;
    assert_eq!(
        downloads,
        vec![
            ("success".to_owned(), Some(redirect.request_id())),
            ("success".to_owned(), Some(link.request_id())),
        ]
    );
    let uploads = s.events("document.upload", &id).await;
    assert_eq!(uploads.len(), 2, "the completion and its repeat");
    assert!(uploads.iter().all(|(outcome, _)| outcome == "success"));
    let issued =
        s.w.count("select count(*) from audit_events where action = 'document.create'")
            .await;
    assert_eq!(issued, 1);
}
