//! What the content tests share: a documents world wired to a fresh bucket and KMS key, file
//! bodies with their SHA-256, and a plain HTTP client for the presigned URLs.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use haven_tests::ObjectStore;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::documents::support::{Reply, World};

pub struct Stored {
    pub w: World,
    pub store: ObjectStore,
}

/// A world whose app stores content in a fresh bucket (and `extra` settings).
pub async fn start(tenants: &[&str], extra: &[(&str, &str)]) -> Stored {
    let store = ObjectStore::start().await;
    let mut env = store.env();
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let w = World::start_with(tenants, &pairs).await;
    Stored { w, store }
}

pub fn sha256(bytes: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(bytes))
}

/// A create body for a file with these bytes.
pub fn file_doc(filename: &str, content_type: &str, bytes: &[u8]) -> Value {
    json!({
        "title": "Lab report",
        "filename": filename,
        "content_type": content_type,
        "size_bytes": bytes.len(),
        "sha256": sha256(bytes),
    })
}

/// A client that follows no redirect and sends nothing Haven would.
pub fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// PUTs `bytes` to an `upload` object's URL with its headers, as a client would.
pub async fn put(upload: &Value, bytes: &[u8]) -> u16 {
    let mut request = plain().put(upload["url"].as_str().expect("url"));
    for (name, value) in upload["headers"].as_object().expect("headers") {
        if name != "content-length" {
            request = request.header(name, value.as_str().expect("header value"));
        }
    }
    request
        .body(bytes.to_vec())
        .send()
        .await
        .expect("PUT sent")
        .status()
        .as_u16()
}

/// The object key the server builds.
pub fn key(tenant: uuid::Uuid, document: &str) -> String {
    format!("tenants/{tenant}/documents/{document}")
}

impl Stored {
    /// Creates a document for `bytes` and uploads them; returns the create reply's body.
    pub async fn create_and_put(&self, token: &str, body: &Value, bytes: &[u8]) -> Value {
        let created = self.w.create(token, body).await;
        assert_eq!(put(&created["upload"], bytes).await, 200, "{created}");
        created
    }

    pub async fn complete(&self, token: &str, id: &str) -> Reply {
        let path = format!("/api/v1/documents/{id}/complete");
        self.w.call(Method::POST, &path, token, None).await
    }

    pub async fn content(&self, token: &str, id: &str, query: &str) -> Reply {
        let path = format!("/api/v1/documents/{id}/content{query}");
        self.w.get(&path, token).await
    }

    /// The outcomes of this action's audit events on this document, oldest first.
    pub async fn outcomes(&self, action: &str, id: &str) -> Vec<String> {
        self.events(action, id)
            .await
            .into_iter()
            .map(|e| e.0)
            .collect()
    }

    /// Audit events of this action on this document: (outcome, request id).
    pub async fn events(&self, action: &str, id: &str) -> Vec<(String, Option<String>)> {
        sqlx::query_as(
            "select outcome, request_id from audit_events where action = $1 \
             and resource_id = $2 order by occurred_at, id",
        )
        .bind(action)
        .bind(id)
        .fetch_all(&self.w.pool)
        .await
        .expect("audit events")
    }
}
