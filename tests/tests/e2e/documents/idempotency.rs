//! `Idempotency-Key` on create: retries and races create one document; a reused key with another
//! body is refused.

use std::sync::Arc;

use reqwest::Method;
use serde_json::json;

use super::support::{World, new_doc};

#[tokio::test]
async fn the_same_post_with_the_same_key_sent_concurrently_creates_one_document() {
    let w = Arc::new(World::start(&["org-1"]).await);
    let editor = w.token("org-1", "erin", &["editor"]).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let w = w.clone();
        let editor = editor.clone();
        tasks.push(tokio::spawn(async move {
            let request = w
                .request(Method::POST, "/api/v1/documents", &editor)
                .header("idempotency-key", "upload-2026-0001")
                .json(&new_doc("Referral"));
            World::send(request).await
        }));
    }
    let mut ids = Vec::new();
    let mut replays = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        ids.push(reply.body["id"].as_str().unwrap().to_owned());
        if reply.headers.get("idempotent-replayed").is_some() {
            replays += 1;
        }
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every response names the same document");
    assert_eq!(replays, 7, "all but the first are replays");
    assert_eq!(w.count("select count(*) from documents").await, 1);
    assert_eq!(
        w.count("select count(*) from audit_events where action = 'document.create'")
            .await,
        1
    );
    assert_eq!(
        w.count("select count(*) from audit_events where action = 'document.create_replayed'")
            .await,
        7
    );
}

#[tokio::test]
async fn a_reused_key_with_another_body_is_422_idem_001_and_keys_belong_to_their_user() {
    let w = World::start(&["org-1"]).await;
    let erin = w.token("org-1", "erin", &["editor"]).await;
    let ella = w.token("org-1", "ella", &["editor"]).await;
    let post = |token: &str, key: &str, body: serde_json::Value| {
        World::send(
            w.request(Method::POST, "/api/v1/documents", token)
                .header("idempotency-key", key)
                .json(&body),
        )
    };
    let first = post(&erin, "k-1", new_doc("One")).await;
    assert_eq!(first.status, 201);
    // Key order and an explicit default do not make it another request.
    let mut same = json!({"status": "pending", "metadata": {"source": "scanner", "pages": 3}});
    for (k, v) in new_doc("One").as_object().unwrap() {
        if k != "metadata" {
            same[k] = v.clone();
        }
    }
    let again = post(&erin, "k-1", same).await;
    assert_eq!((again.status, &again.body["id"]), (201, &first.body["id"]));
    assert_eq!(
        again.headers["location"], first.headers["location"],
        "the same Location"
    );

    let other = post(&erin, "k-1", new_doc("Two")).await;
    assert_eq!((other.status, other.code()), (422, Some("IDEM_001")));
    let someone_else = post(&ella, "k-1", new_doc("Two")).await;
    assert_eq!(someone_else.status, 201, "keys are scoped to their user");
    assert_ne!(someone_else.body["id"], first.body["id"]);
    assert_eq!(w.count("select count(*) from documents").await, 2);

    let path = format!("/api/v1/documents/{}", first.body["id"].as_str().unwrap());
    assert_eq!(w.call(Method::DELETE, &path, &erin, None).await.status, 204);
    let after_delete = post(&erin, "k-1", new_doc("One")).await;
    assert_eq!(
        (after_delete.status, after_delete.code()),
        (409, Some("RES_002")),
        "the first result no longer exists"
    );
    assert_eq!(w.count("select count(*) from documents").await, 2);
}
