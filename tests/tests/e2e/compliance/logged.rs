//! The real binary with an identity provider and a tenant, its stdout kept as parsed JSON lines.

use std::collections::HashMap;
use std::time::Duration;

use haven_tests::idp::{CLIENT_ID, Idp};
use haven_tests::{HavenProcess, TestDatabase, app::base_env, eventually, free_port};
use serde_json::{Value, json};

pub const TENANT: &str = "org-logs";

pub struct LoggedService {
    pub idp: Idp,
    pub service: HavenProcess,
    pub client: reqwest::Client,
}

/// What a request got back: status, request id and JSON body.
pub struct Answer {
    pub status: u16,
    pub request_id: String,
    pub body: Value,
}

impl LoggedService {
    /// `haven serve` at LOG_LEVEL=info with `extra` settings, trusting a fresh IdP, with the
    /// tenant [`TENANT`] created and token checking under way (discovery done).
    pub async fn start(extra: &[(&str, &str)]) -> Self {
        let idp = Idp::start();
        let db = TestDatabase::create().await;
        let mut env = base_env(&db.url);
        env.insert("LOG_LEVEL".into(), "info".into());
        env.insert("OIDC_ISSUER_URL".into(), idp.issuer.clone());
        env.insert("OIDC_CLIENT_ID".into(), CLIENT_ID.into());
        // Waiting for discovery below costs anonymous budget; a test about limits sets its own.
        env.insert("RATE_LIMIT_ANON_BURST".into(), "1000".into());
        for (key, value) in extra {
            env.insert((*key).to_owned(), (*value).to_owned());
        }
        let service = HavenProcess::spawn(&["serve"], &env);
        assert!(
            service.wait_ready(Duration::from_secs(30)).await,
            "the service did not get ready: {:?}",
            service.stderr_lines()
        );
        let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
        haven_db::tenants::admin_create(&pool, TENANT, "Logs Clinic")
            .await
            .expect("create the tenant");
        pool.close().await;
        let logged = Self {
            idp,
            service,
            client: reqwest::Client::new(),
        };
        // Discovery runs in the background: wait until tokens are checked (no more 503).
        let probe = logged.token("probe-user", &["viewer"]).await;
        let ready = eventually(Duration::from_secs(20), || async {
            logged.get("/api/v1/me", Some(&probe)).await.status != 503
        })
        .await;
        assert!(ready, "the service never reached the identity provider");
        logged
    }

    /// A token of [`TENANT`] for `subject` with `roles`.
    pub async fn token(&self, subject: &str, roles: &[&str]) -> String {
        self.idp
            .token(json!({"claims": {"tenant_id": TENANT, "sub": subject, "roles": roles}}))
            .await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut request = self.client.get(self.service.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            request_id,
            body,
        }
    }

    /// Stops the service with SIGTERM and returns every stdout line, parsed.
    pub fn stop(mut self) -> Vec<Value> {
        self.service.signal("TERM");
        assert!(
            self.service.wait_exit(Duration::from_secs(20)).is_some(),
            "the service did not stop"
        );
        parse(&self.service.stdout_lines())
    }
}

/// Each stdout line as JSON; a line that is not JSON fails the test.
pub fn parse(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
        })
        .collect()
}

/// `haven serve` against a database nobody listens on, with a one-second retry budget: the
/// lines of a start-up that waits for the database and gives up.
pub fn failed_start_up() -> Vec<Value> {
    let env: HashMap<String, String> = [
        (
            "DATABASE_URL",
            format!("postgres://haven@127.0.0.1:{}/haven", free_port()),
        ),
        ("DB_CONNECT_RETRY_SECONDS", "1".to_owned()),
        ("LOG_LEVEL", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut process = HavenProcess::spawn(&["serve"], &env);
    let status = process
        .wait_exit(Duration::from_secs(20))
        .expect("a start-up without a database gives up");
    assert_eq!(status.code(), Some(1), "{:?}", process.stderr_lines());
    parse(&process.stdout_lines())
}
