//! The whole browser login against a certified provider (panva oidc-provider: RFC 8707 resource
//! indicators, JWT access tokens, refresh tokens): `/auth/login`, the provider's login and
//! consent forms, `/auth/callback`, `/me`, `/auth/refresh`, `/auth/logout` with
//! `id_token_hint`, and the refusals of bad refresh tokens (garbage, revoked, expired, another
//! client's).

use std::time::Duration;

use haven_tests::op::{CertifiedIdp, ProviderSetup, form_body};
use haven_tests::{TestApp, spawn_app_with};
use serde_json::{Value, json};

const CLIENT_ID: &str = "haven-spa";
const CLIENT_SECRET: &str = "certified-provider-client-secret-0123456789";
const FRONTEND: &str = "http://127.0.0.1:3000";
const REDIRECT: &str = "http://127.0.0.1:3000/callback";
const API: &str = "https://api.haven.test";
const TENANT: &str = "org-certified";
/// A second client registered at the same provider (see server.mjs).
const OTHER_CLIENT_ID: &str = "other-client";
const OTHER_CLIENT_SECRET: &str = "other-client-secret-0123456789abcdef";

fn setup() -> ProviderSetup<'static> {
    ProviderSetup {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uri: REDIRECT,
        resource: API,
        tenant: TENANT,
        roles: "admin",
        refresh_ttl_secs: 3600,
    }
}

async fn app_for(idp: &CertifiedIdp, extra: &[(&str, &str)]) -> TestApp {
    let issuer = idp.issuer.clone();
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let app = spawn_app_with(move |env| {
        env.insert("OIDC_ISSUER_URL".into(), issuer);
        env.insert("OIDC_CLIENT_ID".into(), CLIENT_ID.into());
        env.insert("OIDC_CLIENT_SECRET".into(), CLIENT_SECRET.into());
        env.insert("OIDC_API_AUDIENCE".into(), API.into());
        env.insert("OIDC_AUDIENCE_PARAM".into(), "resource".into());
        env.insert("OIDC_REFRESH_TOKENS".into(), "true".into());
        // oidc-provider follows OIDC Core §11: offline_access only with prompt=consent.
        env.insert("OIDC_PROMPT".into(), "consent".into());
        env.insert("ALLOWED_ORIGINS".into(), FRONTEND.into());
        env.insert("DEV_TENANT_EXTERNAL_ID".into(), TENANT.into());
        env.extend(extra);
    })
    .await;
    let ready = haven_tests::eventually(Duration::from_secs(15), || {
        let request = app
            .client
            .get(app.url(&format!("/api/v1/auth/login?redirect_uri={REDIRECT}")))
            .send();
        async move { matches!(request.await, Ok(r) if r.status() == 200) }
    })
    .await;
    assert!(ready, "the service discovered the provider");
    app
}

async fn post(app: &TestApp, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = app.client.post(app.url(path)).json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str, bearer: &str) -> (u16, Value) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `/auth/login`, the provider's forms as `login`, then `/auth/callback`: the tokens.
async fn sign_in(app: &TestApp, idp: &CertifiedIdp, login: &str) -> (u16, Value) {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/auth/login?redirect_uri={REDIRECT}")))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200);
    let started: Value = response.json().await.expect("login body");
    let url = started["authorization_url"].as_str().expect("url");
    assert!(
        url.contains("resource=https%3A%2F%2Fapi.haven.test"),
        "{url}"
    );
    assert!(url.contains("offline_access"), "{url}");
    let back = idp.sign_in(url, login, REDIRECT).await;
    let query: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(query["state"], started["state"].as_str().expect("state"));
    let body = json!({"code": query["code"], "state": query["state"]});
    post(app, "/api/v1/auth/callback", None, body).await
}

#[tokio::test]
async fn a_browser_login_through_a_certified_provider_yields_tokens_the_api_accepts() {
    let idp = CertifiedIdp::start(&setup());
    let app = app_for(&idp, &[]).await;

    let (status, tokens) = sign_in(&app, &idp, "alice").await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().expect("access token");
    let refresh = tokens["refresh_token"].as_str().expect("refresh token");
    let id_token = tokens["id_token"].as_str().expect("id token");
    let (status, me) = get(&app, "/api/v1/me", access).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["subject"], "alice");

    // Refresh: new tokens, also accepted.
    let (status, renewed) = post(
        &app,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": refresh}),
    )
    .await;
    assert_eq!(status, 200, "{renewed}");
    let renewed_access = renewed["access_token"].as_str().expect("access token");
    assert_ne!(renewed_access, access);
    assert_eq!(get(&app, "/api/v1/me", renewed_access).await.0, 200);

    // Both sign-ins are in the tenant's audit trail.
    let (status, page) = get(&app, "/api/v1/audit-events?limit=100", renewed_access).await;
    assert_eq!(status, 200, "{page}");
    let actions: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["resource_type"] == "session")
        .map(|e| e["action"].as_str().expect("action"))
        .collect();
    assert!(
        actions.contains(&"auth.login") && actions.contains(&"auth.refresh"),
        "{actions:?}"
    );

    // Logout passes the ID token on as `id_token_hint`; the provider knows the session.
    let (status, out) = post(
        &app,
        "/api/v1/auth/logout",
        Some(renewed_access),
        json!({"redirect_uri": REDIRECT, "id_token_hint": id_token}),
    )
    .await;
    assert_eq!(status, 200, "{out}");
    let logout = url::Url::parse(out["logout_url"].as_str().expect("logout url")).expect("url");
    let hint = logout
        .query_pairs()
        .find(|(k, _)| k == "id_token_hint")
        .map(|(_, v)| v.into_owned());
    assert_eq!(hint.as_deref(), Some(id_token));
    let page = idp.http().get(logout).send().await.expect("end session");
    assert_eq!(page.status(), 200, "the provider accepts the hint");

    // A hint longer than the token size cap is refused before anything is built.
    let (status, error) = post(
        &app,
        "/api/v1/auth/logout",
        Some(renewed_access),
        json!({"redirect_uri": FRONTEND, "id_token_hint": "a".repeat(70_000)}),
    )
    .await;
    assert_eq!(status, 422, "{error}");
    assert_eq!(error["error"]["details"][0]["field"], "id_token_hint");
}

#[tokio::test]
async fn garbage_revoked_or_another_clients_refresh_tokens_get_401_in_the_envelope() {
    let idp = CertifiedIdp::start(&setup());
    let app = app_for(&idp, &[]).await;
    let (status, tokens) = sign_in(&app, &idp, "bob").await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().expect("refresh token");

    // Revoke it at the provider, as a sign-out elsewhere would.
    let revoked = idp
        .http()
        .post(format!("{}/token/revocation", idp.issuer))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("token", refresh),
            ("token_type_hint", "refresh_token"),
        ]))
        .send()
        .await
        .expect("revocation");
    assert_eq!(revoked.status(), 200);

    let other = other_clients_refresh_token(&idp).await;
    for token in ["garbage", refresh, &other, &"x".repeat(10_000)] {
        let (status, error) = post(
            &app,
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": token}),
        )
        .await;
        assert_eq!(status, 401, "{error}");
        assert_eq!(error["error"]["code"], "AUTH_011");
        assert!(!error.to_string().contains(refresh), "never echoed");
    }
    let (status, error) = post(&app, "/api/v1/auth/refresh", None, json!({"token": "x"})).await;
    assert_eq!((status, &error["error"]["code"]), (422, &json!("VAL_001")));
}

#[tokio::test]
async fn an_expired_refresh_token_gets_401_in_the_envelope() {
    let idp = CertifiedIdp::start(&ProviderSetup {
        refresh_ttl_secs: 1,
        ..setup()
    });
    let app = app_for(&idp, &[]).await;
    let (status, tokens) = sign_in(&app, &idp, "erin").await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().expect("refresh token");
    // Waits out the token's one-second lifetime; nothing here measures time.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, error) = post(
        &app,
        "/api/v1/auth/refresh",
        None,
        json!({"refresh_token": refresh}),
    )
    .await;
    assert_eq!((status, &error["error"]["code"]), (401, &json!("AUTH_011")));
}

/// A refresh token the provider issued to another client, through that client's own login
/// (authorization code with PKCE, straight at the provider).
async fn other_clients_refresh_token(idp: &CertifiedIdp) -> String {
    use aws_lc_rs::digest::{SHA256, digest};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let verifier = "other-client-pkce-verifier-0123456789-abcdefghij";
    let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
    let mut authorize = url::Url::parse(&format!("{}/auth", idp.issuer)).expect("url");
    authorize
        .query_pairs_mut()
        .append_pair("client_id", OTHER_CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", "openid offline_access")
        .append_pair("prompt", "consent")
        .append_pair("resource", API)
        .append_pair("state", "other-state")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let back = idp.sign_in(authorize.as_str(), "dave", REDIRECT).await;
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .expect("code")
        .1
        .into_owned();
    let response = idp
        .http()
        .post(format!("{}/token", idp.issuer))
        .basic_auth(OTHER_CLIENT_ID, Some(OTHER_CLIENT_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
            ("resource", API),
        ]))
        .send()
        .await
        .expect("token request");
    let tokens: Value = response.json().await.expect("tokens");
    tokens["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("the other client got a refresh token: {tokens}"))
        .to_owned()
}

#[tokio::test]
async fn a_login_that_yields_an_access_token_for_another_audience_names_the_setting() {
    let idp = CertifiedIdp::start(&setup());
    // The provider issues tokens for https://api.haven.test; the API expects another audience.
    let app = app_for(&idp, &[("OIDC_AUDIENCE", "https://other.example")]).await;
    let (status, error) = sign_in(&app, &idp, "carol").await;
    assert_eq!(status, 502, "{error}");
    assert_eq!(error["error"]["code"], "AUTH_012");
    let message = error["error"]["message"].as_str().expect("message");
    assert!(message.contains("OIDC_API_AUDIENCE"), "{message}");
}

#[tokio::test]
async fn refused_refresh_tokens_never_reach_the_log() {
    let idp = CertifiedIdp::start(&setup());
    let db = haven_tests::TestDatabase::create().await;
    let mut env = haven_tests::app::base_env(&db.url);
    for (k, v) in [
        ("LOG_LEVEL", "debug"),
        ("OIDC_ISSUER_URL", idp.issuer.as_str()),
        ("OIDC_CLIENT_ID", CLIENT_ID),
        ("OIDC_CLIENT_SECRET", CLIENT_SECRET),
        ("OIDC_API_AUDIENCE", API),
        ("ALLOWED_ORIGINS", FRONTEND),
    ] {
        env.insert(k.to_owned(), v.to_owned());
    }
    let mut service = haven_tests::HavenProcess::spawn(&["serve"], &env);
    assert!(service.wait_ready(Duration::from_secs(20)).await);
    let client = reqwest::Client::new();
    let secret = "rt-secret-5d1e9";
    let refresh = || {
        client
            .post(service.url("/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": secret}))
            .send()
    };
    let refused = haven_tests::eventually(Duration::from_secs(15), || async {
        matches!(refresh().await, Ok(r) if r.status() == 401)
    })
    .await;
    assert!(refused, "the provider refused the refresh token");
    service.signal("TERM");
    assert!(service.wait_exit(Duration::from_secs(10)).is_some());
    let lines = service.stdout_lines();
    assert!(
        lines.iter().any(|l| l.contains("refresh_rejected")),
        "the refusal is logged"
    );
    assert!(
        !lines.iter().any(|l| l.contains(secret)),
        "the token is never logged"
    );
}
