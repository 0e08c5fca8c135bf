//! Test harness: runs `tests/oidc/server.mjs` (oauth2-mock-server + control endpoints) as a
//! child process per test and talks to its control API.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use haven_api::auth::{AuthSettings, Oidc};
use serde_json::{Value, json};

use crate::node::{ensure_node_modules, spawn_provider};

pub const CLIENT_ID: &str = "haven-test";

fn oidc_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

/// A free loopback port (for starting the provider after the app).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// One running provider; killed when dropped.
pub struct Idp {
    child: Option<Child>,
    pub issuer: String,
    http: reqwest::Client,
}

impl Idp {
    pub fn start() -> Self {
        Self::start_on(0)
    }

    pub fn start_on(port: u16) -> Self {
        ensure_node_modules(&oidc_dir(), "oauth2-mock-server");
        let mut command = Command::new("node");
        command
            .arg(oidc_dir().join("server.mjs"))
            .args([
                "--port",
                &port.to_string(),
                "--client-id",
                CLIENT_ID,
                "--watch-stdin",
            ])
            .stderr(Stdio::inherit());
        let (child, ready) = spawn_provider(command);
        let issuer = ready["issuer"].as_str().expect("issuer").to_owned();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            child: Some(child),
            issuer,
            http,
        }
    }

    /// Settings for this provider with the harness client id and the given cooldown.
    pub fn settings(&self, cooldown: Duration) -> AuthSettings {
        let mut s = AuthSettings::new(self.issuer.clone(), CLIENT_ID);
        s.unknown_kid_cooldown = cooldown;
        s
    }

    /// Starts `Oidc` against this provider and waits for discovery.
    pub async fn oidc(&self, cooldown: Duration) -> std::sync::Arc<Oidc> {
        let oidc = Oidc::start(self.settings(cooldown)).expect("settings");
        assert!(oidc.wait_ready(Duration::from_secs(10)).await, "discovery");
        oidc
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/__control/{path}", self.issuer);
        let mut req = self.http.request(method, url);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("control request");
        assert!(
            resp.status().is_success(),
            "control {path}: {}",
            resp.status()
        );
        resp.json().await.expect("control JSON")
    }

    /// Mints a token: `spec` is the control API body (claims, header, alg, kid, signer, ...).
    /// Claims default to a valid access token for tenant `org-1` with role `admin`.
    pub async fn token(&self, spec: Value) -> String {
        let mut spec = spec;
        let mut claims = json!({"tenant_id": "org-1", "roles": ["admin"]});
        if let (Some(base), Some(extra)) = (
            claims.as_object_mut(),
            spec.get("claims").and_then(Value::as_object),
        ) {
            for (k, v) in extra {
                base.insert(k.clone(), v.clone());
            }
        }
        spec["claims"] = claims;
        let out = self
            .control(reqwest::Method::POST, "token", Some(spec))
            .await;
        out["token"].as_str().expect("token").to_owned()
    }

    pub async fn attacker_keys(&self) -> Vec<Value> {
        let out = self.control(reqwest::Method::GET, "attacker", None).await;
        out["keys"].as_array().expect("keys").clone()
    }

    pub async fn current_keys(&self) -> Vec<Value> {
        let out = self.control(reqwest::Method::GET, "keys", None).await;
        out["keys"].as_array().expect("keys").clone()
    }

    pub async fn rotate(&self) {
        self.control(reqwest::Method::POST, "rotate", None).await;
    }

    pub async fn next_claims(&self, claims: Value) {
        self.control(
            reqwest::Method::POST,
            "next-claims",
            Some(json!({"claims": claims})),
        )
        .await;
    }

    pub async fn jwks_requests(&self) -> u64 {
        let out = self.control(reqwest::Method::GET, "stats", None).await;
        out["jwks_requests"].as_u64().expect("jwks_requests")
    }

    /// How each token request that got tokens authenticated, oldest first: objects with
    /// `method` (`client_secret_basic`, `client_secret_post` or `none`), `client_id` and
    /// `client_secret`.
    pub async fn token_clients(&self) -> Vec<Value> {
        let out = self
            .control(reqwest::Method::GET, "token-clients", None)
            .await;
        out["clients"].as_array().expect("clients").clone()
    }

    /// Simulated failures: `{"jwks": true}` (503), `{"jwks_huge": true}`, `{"jwks_delay_ms": N}`.
    pub async fn fail(&self, modes: Value) {
        self.control(reqwest::Method::POST, "fail", Some(modes))
            .await;
    }

    /// How `/jwks` answers: `{"max_age": N}` sends `Cache-Control: max-age=N`, `{"etag": true}`
    /// an `ETag` honoured with 304.
    pub async fn jwks_cache(&self, modes: Value) {
        self.control(reqwest::Method::POST, "jwks-cache", Some(modes))
            .await;
    }

    /// `/jwks` requests answered 304 Not Modified.
    pub async fn jwks_not_modified(&self) -> u64 {
        let out = self.control(reqwest::Method::GET, "stats", None).await;
        out["jwks_not_modified"]
            .as_u64()
            .expect("jwks_not_modified")
    }

    pub async fn reset_stats(&self) {
        self.control(reqwest::Method::POST, "stats/reset", None)
            .await;
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.kill();
    }
}
