//! The world most end-to-end tests share: an app wired to a real OIDC provider, tenants, tokens
//! per (tenant, subject, roles), one request helper that keeps status, body and headers, and
//! typed helpers per endpoint that take the expected status, so a test reads as a sentence.

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::idp::{CLIENT_ID, Idp};
use crate::{TestApp, spawn_app_with};

pub const USER_AGENT: &str = "haven-e2e/1.0 (documents)";

pub struct World {
    pub idp: Idp,
    pub app: TestApp,
    /// The test database as its superuser: sees every tenant's rows.
    pub pool: PgPool,
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Reply {
    pub fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }

    pub fn request_id(&self) -> String {
        self.headers["x-request-id"]
            .to_str()
            .expect("request id")
            .to_owned()
    }
}

impl World {
    /// An app trusting a fresh IdP, with these tenants (external ids) created.
    pub async fn start(tenants: &[&str]) -> Self {
        Self::start_with(tenants, &[]).await
    }

    pub async fn start_with(tenants: &[&str], extra: &[(&str, &str)]) -> Self {
        let idp = Idp::start();
        let issuer = idp.issuer.clone();
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let app = spawn_app_with(move |env| {
            env.insert("OIDC_ISSUER_URL".into(), issuer);
            env.insert("OIDC_CLIENT_ID".into(), CLIENT_ID.into());
            // These tests are about data and audit, not about throttling.
            env.insert("RATE_LIMIT_ENABLED".into(), "false".into());
            env.extend(extra);
        })
        .await;
        let pool = PgPool::connect(&app.db.url).await.expect("connect");
        for tenant in tenants {
            haven_db::tenants::admin_create(&pool, tenant, &format!("Tenant {tenant}"))
                .await
                .expect("create tenant");
        }
        let world = Self { idp, app, pool };
        // Discovery runs in the background after start: wait until tokens are checked (no more
        // 503 AUTH_008), so no test sees the start-up window.
        let probe = world
            .idp
            .token(json!({"claims": {"tenant_id": "probe"}}))
            .await;
        let ready = crate::eventually(std::time::Duration::from_secs(15), || async {
            world.get("/api/v1/auth/validate", &probe).await.status != 503
        })
        .await;
        assert!(ready, "the app never reached the identity provider");
        world
    }

    pub async fn token(&self, tenant: &str, subject: &str, roles: &[&str]) -> String {
        self.idp
            .token(json!({"claims": {"tenant_id": tenant, "sub": subject, "roles": roles}}))
            .await
    }

    pub fn request(&self, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.request_as(method, path, token, USER_AGENT)
    }

    /// A request with this User-Agent (set once: `.header` would add a second one).
    pub fn request_as(
        &self,
        method: Method,
        path: &str,
        token: &str,
        user_agent: &str,
    ) -> reqwest::RequestBuilder {
        self.app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(token)
            .header("user-agent", user_agent)
    }

    pub async fn send(request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.request(method, path, token);
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::send(request).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    /// A request that must answer `status`; the reply, for its body and headers.
    pub async fn expect(
        &self,
        status: u16,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Reply {
        let reply = self.call(method.clone(), path, token, body).await;
        assert_eq!(reply.status, status, "{method} {path}: {:?}", reply.body);
        reply
    }

    /// `POST path` with `body`, expecting `status`; the response body.
    pub async fn post(&self, status: u16, path: &str, token: &str, body: &Value) -> Value {
        self.expect(status, Method::POST, path, token, Some(body))
            .await
            .body
    }

    /// `GET path`, expecting `status`; the response body.
    pub async fn read(&self, status: u16, path: &str, token: &str) -> Value {
        self.expect(status, Method::GET, path, token, None)
            .await
            .body
    }

    /// `PATCH path` with `body`, expecting `status`; the response body.
    pub async fn patch(&self, status: u16, path: &str, token: &str, body: &Value) -> Value {
        self.expect(status, Method::PATCH, path, token, Some(body))
            .await
            .body
    }

    /// `DELETE path`, expecting `status`; the response body (null for a 204).
    pub async fn delete(&self, status: u16, path: &str, token: &str) -> Value {
        self.expect(status, Method::DELETE, path, token, None)
            .await
            .body
    }

    /// Creates a patient and returns it (asserting 201).
    pub async fn create_patient(&self, token: &str, body: &Value) -> Value {
        self.post(201, "/api/v1/patients", token, body).await
    }

    /// Creates a document and returns it (asserting 201).
    pub async fn create(&self, token: &str, body: &Value) -> Value {
        let reply = self
            .call(Method::POST, "/api/v1/documents", token, Some(body))
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        reply.body
    }

    /// Every document of the caller's tenant, walking all pages.
    pub async fn list_all(&self, token: &str, query: &str) -> Vec<Value> {
        self.walk("/api/v1/documents", token, &format!("limit=100{query}"))
            .await
    }

    /// Every item of a list (`path`, with `query` such as `limit=7&mrn=x`), walking all pages.
    pub async fn walk(&self, path: &str, token: &str, query: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("{path}?{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let reply = self.get(&path, token).await;
            assert_eq!(reply.status, 200, "{:?}", reply.body);
            items.extend(
                reply.body["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .cloned(),
            );
            match reply.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
    }

    /// The tenant id behind an external id.
    pub async fn tenant_id(&self, external_id: &str) -> uuid::Uuid {
        sqlx::query_scalar("select id from tenants where external_id = $1")
            .bind(external_id)
            .fetch_one(&self.pool)
            .await
            .expect("tenant")
    }

    /// Audit events with this request id (as the superuser, so across tenants).
    pub async fn events_of_request(&self, request_id: &str) -> Vec<AuditRow> {
        sqlx::query_as(
            "select tenant_id, actor_user_id, actor_subject, action, resource_type, resource_id, \
             outcome, request_id, host(client_ip) as client_ip, user_agent, changed_fields, \
             returned_ids, error_code from audit_events where request_id = $1",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await
        .expect("audit events")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub tenant_id: uuid::Uuid,
    pub actor_user_id: Option<uuid::Uuid>,
    pub actor_subject: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub changed_fields: Option<Vec<String>>,
    pub returned_ids: Option<Vec<uuid::Uuid>>,
    pub error_code: Option<String>,
}

/// A valid patient create body.
pub fn new_patient(mrn: &str, family_name: &str) -> Value {
    json!({
        "mrn": mrn,
        "given_name": "Ada",
        "family_name": family_name,
        "birth_date": "1984-03-01",
        "sex": "female",
        "contact": {"phone": "+1 555 0100"}
    })
}

/// A valid create body.
pub fn new_doc(title: &str) -> Value {
    json!({
        "title": title,
        "filename": "scan.pdf",
        "content_type": "application/pdf",
        "size_bytes": 1024,
        "metadata": {"pages": 3, "source": "scanner"}
    })
}
