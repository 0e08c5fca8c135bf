//! A document with content keeps what its upload set: `PATCH` of `content_type`, `size_bytes`
//! or `status` is 409 CONTENT_002 naming the fields, changes nothing and is recorded as
//! refused; other fields stay editable, and documents without content keep today's behaviour.

use serde_json::{Value, json};

use super::support::{file_doc, start};

const PDF: &[u8] = b"%PDF-1.7 locked fields";

fn fields(body: &Value) -> Vec<&str> {
    body["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["field"].as_str().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn content_fields_of_an_uploaded_document_cannot_be_patched() {
    let s = start(&["org-1"], &[]).await;
    let editor = s.w.token("org-1", "erin", &["editor"]).await;
    let body = file_doc("scan.pdf", "application/pdf", PDF);
    let created = s.create_and_put(&editor, &body, PDF).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/documents/{id}");

    // While pending: marking it ready by hand would skip the checks of completion.
    let reply =
        s.w.call(
            reqwest::Method::PATCH,
            &path,
            &editor,
            Some(&json!({"status": "ready"})),
        )
        .await;
    assert_eq!(reply.status, 409, "{:?}", reply.body);
    assert_eq!(reply.code(), Some("CONTENT_002"));
    assert_eq!(fields(&reply.body), ["status"]);
    assert_eq!(s.content(&editor, &id, "?redirect=false").await.status, 409);

    assert_eq!(s.complete(&editor, &id).await.status, 200);
    for (patch, expected) in [
        (json!({"status": "archived"}), vec!["status"]),
        (json!({"size_bytes": 1}), vec!["size_bytes"]),
        (
            json!({"content_type": "text/plain", "size_bytes": 3, "title": "t"}),
            vec!["content_type", "size_bytes"],
        ),
    ] {
        let reply =
            s.w.call(reqwest::Method::PATCH, &path, &editor, Some(&patch))
                .await;
        assert_eq!(reply.status, 409, "{patch}: {:?}", reply.body);
        assert_eq!(reply.code(), Some("CONTENT_002"));
        assert_eq!(fields(&reply.body), expected);
        let events = s.w.events_of_request(&reply.request_id()).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, "document.update");
        assert_eq!(events[0].outcome, "denied");
        let changed: Vec<&str> = events[0]
            .changed_fields
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        assert_eq!(changed, expected);
    }
    let now = s.w.read(200, &path, &editor).await;
    assert_eq!(now["status"], "ready");
    assert_eq!(now["size_bytes"], PDF.len());
    assert_eq!(now["content_type"], "application/pdf");
    assert_eq!(
        now["title"], created["title"],
        "a refused patch changes nothing"
    );

    // The same values, or other fields, are fine; the file still downloads.
    let same = json!({"status": "ready", "size_bytes": PDF.len(), "title": "Scan"});
    let patched = s.w.patch(200, &path, &editor, &same).await;
    assert_eq!(patched["title"], "Scan");
    assert_eq!(s.content(&editor, &id, "?redirect=false").await.status, 200);

    // A document without content keeps its editable status.
    let plain =
        s.w.create(&editor, &crate::documents::support::new_doc("Note"))
            .await;
    let plain_path = format!("/api/v1/documents/{}", plain["id"].as_str().unwrap());
    let archived =
        s.w.patch(200, &plain_path, &editor, &json!({"status": "archived"}))
            .await;
    assert_eq!(archived["status"], "archived");
}
