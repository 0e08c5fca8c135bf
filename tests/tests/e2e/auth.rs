//! Bearer authentication over HTTP against a real OIDC provider: the right tenant and user for
//! a good token, the right status and code for each bad one, IdP outages, and the login flow.

use std::collections::HashMap;
use std::time::Duration;

use haven_tests::idp::{CLIENT_ID, Idp};
use haven_tests::{TestApp, spawn_app_with};
use serde_json::{Value, json};

const CLIENT_SECRET: &str = "test-client-secret-at-least-32-bytes-long";
const FRONTEND: &str = "http://localhost:3000";

async fn app_for(idp: &Idp) -> TestApp {
    app_with(idp, &[]).await
}

async fn app_with(idp: &Idp, extra: &[(&str, &str)]) -> TestApp {
    let issuer = idp.issuer.clone();
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let app = spawn_app_with(move |env| {
        env.extend(extra);
        env.insert("OIDC_ISSUER_URL".into(), issuer);
        env.insert("OIDC_CLIENT_ID".into(), CLIENT_ID.into());
        env.insert("OIDC_CLIENT_SECRET".into(), CLIENT_SECRET.into());
        env.insert("ALLOWED_ORIGINS".into(), FRONTEND.into());
    })
    .await;
    let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    haven_db::tenants::admin_create(&pool, "org-1", "Org One")
        .await
        .unwrap();
    haven_db::tenants::admin_create(&pool, "org-suspended", "Suspended")
        .await
        .unwrap();
    haven_db::tenants::admin_suspend(&pool, "org-suspended")
        .await
        .unwrap();
    pool.close().await;
    // Discovery runs in the background from start-up; until it is done, tokens get 503 (by
    // design). Tests begin once a token validates.
    let probe = idp.token(json!({})).await;
    let ready = haven_tests::eventually(Duration::from_secs(15), || {
        let request = app
            .client
            .get(app.url("/api/v1/auth/validate"))
            .bearer_auth(&probe)
            .send();
        async move { matches!(request.await, Ok(r) if r.status() == 200) }
    })
    .await;
    assert!(ready, "the service discovered the identity provider");
    app
}

async fn call(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = app.client.get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        headers,
    )
}

#[tokio::test]
async fn a_valid_token_reaches_me_and_validate_with_its_tenant_and_a_user_created_on_first_sight() {
    let idp = Idp::start();
    let app = app_for(&idp).await;
    let token = idp
        .token(json!({"claims": {"sub": "alice", "roles": ["admin", "unknown-role"]}}))
        .await;

    let (status, me, _) = call(&app, "/api/v1/me", Some(&token)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["subject"], "alice");
    assert_eq!(me["tenant_external_id"], "org-1");
    assert_eq!(
        me["roles"],
        json!(["admin"]),
        "unknown role names are ignored"
    );

    let (status, validated, _) = call(&app, "/api/v1/auth/validate", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(validated["valid"], true);
    assert_eq!(validated["user_id"], me["user_id"]);
    assert_eq!(validated["tenant_id"], me["tenant_id"]);

    let (status, tenant, _) = call(&app, "/api/v1/tenant", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(
        (tenant["external_id"].as_str(), tenant["status"].as_str()),
        (Some("org-1"), Some("active"))
    );

    let mut conn = app.db.connect().await;
    let users: i64 = sqlx::query_scalar("select count(*) from users where subject = 'alice'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        users, 1,
        "one user row for the subject, however many requests"
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_tokens_get_their_status_code_and_www_authenticate_over_http() {
    let idp = Idp::start();
    let app = app_for(&idp).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expired = idp
        .token(json!({"claims": {"iat": now - 7200, "exp": now - 3600}}))
        .await;
    // Signed by a key the IdP never published, under the kid of one it did.
    let real_kid = idp.current_keys().await[0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_key = idp
        .token(json!({"signer": "attacker", "kid": real_kid}))
        .await;
    let no_tenant = idp.token(json!({"claims": {"tenant_id": null}})).await;
    let bad_tenant = idp
        .token(json!({"claims": {"tenant_id": "org 1; drop"}}))
        .await;
    let unknown_tenant = idp
        .token(json!({"claims": {"tenant_id": "org-nobody"}}))
        .await;
    let suspended = idp
        .token(json!({"claims": {"tenant_id": "org-suspended"}}))
        .await;
    let good = idp.token(json!({})).await;
    let parts: Vec<&str> = good.split('.').collect();
    let alg_none = format!(
        "{}.{}.",
        base64_json(&json!({"alg": "none", "typ": "JWT"})),
        parts[1]
    );

    let cases: Vec<(&str, Option<String>, u16, &str)> = vec![
        ("no header", None, 401, "AUTH_001"),
        ("alg none", Some(alg_none), 401, "AUTH_001"),
        ("garbage", Some("not.a.jwt".into()), 401, "AUTH_001"),
        ("expired", Some(expired), 401, "AUTH_003"),
        ("another key's signature", Some(other_key), 401, "AUTH_004"),
        ("no tenant claim", Some(no_tenant), 403, "AUTH_005"),
        ("malformed tenant claim", Some(bad_tenant), 403, "AUTH_007"),
        ("unknown tenant", Some(unknown_tenant), 403, "TENANT_001"),
        ("suspended tenant", Some(suspended), 403, "TENANT_002"),
    ];
    for (case, token, status, code) in cases {
        let (got, body, headers) = call(&app, "/api/v1/me", token.as_deref()).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{case}: {body}"
        );
        if status == 401 {
            let challenge = headers["www-authenticate"].to_str().unwrap();
            assert!(challenge.starts_with("Bearer"), "{case}: {challenge}");
        }
    }
    let basic = app
        .client
        .get(app.url("/api/v1/me"))
        .header("authorization", "Basic YTpi")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    app.stop().await;
}

fn base64_json(value: &Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn unknown_paths_stay_404_whatever_the_token() {
    let idp = Idp::start();
    let app = app_for(&idp).await;
    let (status, body, _) = call(&app, "/api/v1/no-such-route", Some("garbage")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("RES_001"))
    );
    app.stop().await;
}

#[tokio::test]
async fn with_the_idp_down_cached_keys_keep_working_and_an_unknown_kid_is_503_not_401() {
    let mut idp = Idp::start();
    let app = app_with(&idp, &[("JWKS_UNKNOWN_KID_COOLDOWN_SECONDS", "1")]).await;
    let token = idp.token(json!({})).await;
    assert_eq!(
        call(&app, "/api/v1/me", Some(&token)).await.0,
        200,
        "keys cached"
    );
    let unknown_kid = idp.token(json!({"kid": "rotated-away-key"})).await;
    idp.kill();
    // Past the unknown-kid cooldown the service asks the IdP again, and finds it gone.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let (status, body, _) = call(&app, "/api/v1/auth/validate", Some(&token)).await;
    assert_eq!(status, 200, "cached keys keep working: {body}");
    let (status, body, headers) = call(&app, "/api/v1/me", Some(&unknown_kid)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("AUTH_008")),
        "{body}"
    );
    assert!(headers.contains_key("retry-after"));
    app.stop().await;
}

#[tokio::test]
async fn login_callback_and_logout_round_trip_against_the_provider() {
    let idp = Idp::start();
    let app = app_for(&idp).await;
    let redirect = format!("{FRONTEND}/auth/callback");
    let (status, login, _) = call(
        &app,
        &format!("/api/v1/auth/login?redirect_uri={redirect}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{login}");
    let authorization_url = login["authorization_url"].as_str().unwrap();
    assert!(
        authorization_url.contains("code_challenge_method=S256")
            && authorization_url.contains("nonce=")
    );

    idp.next_claims(json!({"tenant_id": "org-1", "roles": ["editor"]}))
        .await;
    let authorize = idp.http().get(authorization_url).send().await.unwrap();
    assert_eq!(authorize.status(), 302);
    let location = url::Url::parse(authorize.headers()["location"].to_str().unwrap()).unwrap();
    let query: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(query["state"], login["state"].as_str().unwrap());

    // A tampered state is refused before any exchange.
    let mut tampered = query["state"].clone();
    tampered.replace_range(10..11, if &tampered[10..11] == "A" { "B" } else { "A" });
    let refused = app
        .client
        .post(app.url("/api/v1/auth/callback"))
        .json(&json!({"code": query["code"], "state": tampered}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"]["code"],
        "AUTH_002"
    );

    let callback = app
        .client
        .post(app.url("/api/v1/auth/callback"))
        .json(&json!({"code": query["code"], "state": query["state"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), 200);
    let tokens: Value = callback.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["id_token"].is_string());
    let access = tokens["access_token"].as_str().unwrap();
    let (status, me, _) = call(&app, "/api/v1/me", Some(access)).await;
    assert_eq!(
        (status, me["roles"].clone()),
        (200, json!(["editor"])),
        "{me}"
    );

    let logout = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(access)
        .json(&json!({"redirect_uri": format!("{FRONTEND}/signed out?x=1&y=2")}))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 200);
    let logout_url = logout.json::<Value>().await.unwrap()["logout_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let parsed = url::Url::parse(&logout_url).unwrap();
    assert!(logout_url.starts_with(&idp.issuer), "{logout_url}");
    let params: HashMap<String, String> = parsed.query_pairs().into_owned().collect();
    // The space is percent-encoded by URL normalisation; the query survives the round trip.
    assert_eq!(
        params["post_logout_redirect_uri"],
        format!("{FRONTEND}/signed%20out?x=1&y=2")
    );

    for foreign in [
        "https://evil.example.com/cb",
        "http://localhost:3000.evil.com/",
        "http://user@localhost:3000/",
    ] {
        let (status, body, _) = call(
            &app,
            &format!("/api/v1/auth/login?redirect_uri={foreign}"),
            None,
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("AUTH_006")),
            "{foreign}"
        );
        let response = app
            .client
            .post(app.url("/api/v1/auth/logout"))
            .bearer_auth(access)
            .json(&json!({"redirect_uri": foreign}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{foreign}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_local_development_provider_cannot_be_used_in_production() {
    let idp = Idp::start();
    // scripts/dev points the service at a local provider over plain http; production refuses
    // any non-https issuer at start, so that mechanism cannot be enabled there.
    let env: HashMap<String, String> = [
        ("ENVIRONMENT", "production"),
        ("DATABASE_URL", "postgres://x@127.0.0.1/x"),
        ("OIDC_CLIENT_ID", CLIENT_ID),
        ("ALLOWED_ORIGINS", "https://app.example.com"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([("OIDC_ISSUER_URL".to_owned(), idp.issuer.clone())])
    .collect();
    let mut check = haven_tests::HavenProcess::spawn(&["config", "check"], &env);
    let status = check.wait_exit(Duration::from_secs(5)).expect("exits");
    assert!(!status.success());
    let stderr = check.stderr_lines().join("\n");
    assert!(
        stderr.contains("OIDC_ISSUER_URL") && stderr.contains("https"),
        "{stderr}"
    );
    let error = haven_api::Config::from_map(&env).unwrap_err();
    assert_eq!(error.variable, "OIDC_ISSUER_URL");
}
