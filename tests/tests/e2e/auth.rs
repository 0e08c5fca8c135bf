//! Bearer authentication over HTTP against a real OIDC provider: the right tenant and user for
//! a good token, the right status and code for each bad one, IdP outages, and the login flow.

use std::collections::HashMap;
use std::time::Duration;

use haven_tests::idp::{CLIENT_ID, Idp};
use haven_tests::{TestApp, spawn_app_with};
use serde_json::{Value, json};

use crate::oidc::forge::{ALG_NONE_CASINGS, Forge};

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

/// The challenge every 401 carries (crates/api/src/error: RFC 6750's `invalid_token`).
const CHALLENGE: &str = r#"Bearer error="invalid_token""#;

#[tokio::test]
async fn bad_tokens_get_their_status_code_and_www_authenticate_over_http() {
    let idp = Idp::start();
    // Every case below is an authentication failure from one address: lift the per-IP budget
    // so the limiter's 429 cannot stand in for the answer under test.
    let app = app_with(&idp, &[("RATE_LIMIT_ANON_BURST", "1000")]).await;
    let forge = Forge::new(&idp).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // Signed by a key the IdP never published, under the kid of one it did.
    let real_kid = idp.current_keys().await[0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_key = idp
        .token(json!({"signer": "attacker", "kid": real_kid}))
        .await;

    // (case, token, status, code, message): the message tells apart the many AUTH_001s.
    const MALFORMED: &str = "Authentication token is malformed";
    const BAD_ALG: &str = "Authentication token algorithm is not accepted";
    const UNKNOWN_KEY: &str = "Authentication token signing key is not known";
    const BAD_SIGNATURE: &str = "Authentication token signature is invalid";
    let mut cases: Vec<(String, Option<String>, u16, &str, &str)> = vec![
        (
            "no header".into(),
            None,
            401,
            "AUTH_001",
            "Authentication required",
        ),
        (
            "garbage".into(),
            Some("not.a.jwt".into()),
            401,
            "AUTH_001",
            MALFORMED,
        ),
    ];
    for alg in ALG_NONE_CASINGS {
        cases.push((
            format!("alg {alg}, no signature"),
            Some(forge.alg_none(alg, false)),
            401,
            "AUTH_001",
            MALFORMED,
        ));
        cases.push((
            format!("alg {alg}, a signature"),
            Some(forge.alg_none(alg, true)),
            401,
            "AUTH_001",
            BAD_ALG,
        ));
    }
    cases.push((
        "HS256 keyed with the public key".into(),
        Some(forge.hs256_with_public_key().await),
        401,
        "AUTH_001",
        BAD_ALG,
    ));
    cases.push((
        "unknown kid, IdP up".into(),
        Some(forge.unknown_kid().await),
        401,
        "AUTH_001",
        UNKNOWN_KEY,
    ));
    for param in ["jwk", "jku", "x5u"] {
        cases.push((
            format!("injected {param} header"),
            Some(forge.injected_key(param).await),
            401,
            "AUTH_001",
            UNKNOWN_KEY,
        ));
    }
    cases.push((
        "stripped signature".into(),
        Some(forge.stripped_signature()),
        401,
        "AUTH_001",
        MALFORMED,
    ));
    cases.push((
        "another key's signature".into(),
        Some(other_key),
        401,
        "AUTH_004",
        BAD_SIGNATURE,
    ));
    cases.push((
        "ES256 all-zero signature".into(),
        Some(forge.es256_zero_signature()),
        401,
        "AUTH_004",
        BAD_SIGNATURE,
    ));
    cases.push((
        "four segments".into(),
        Some(forge.four_segments()),
        401,
        "AUTH_001",
        MALFORMED,
    ));
    cases.push((
        "over the size cap".into(),
        Some(forge.oversized().await),
        401,
        "AUTH_001",
        "Authentication token is too large",
    ));
    let claim_cases: Vec<(&str, Value, u16, &str, &str)> = vec![
        (
            "wrong iss",
            json!({"iss": "http://evil.example"}),
            401,
            "AUTH_001",
            "Authentication token issuer is not accepted",
        ),
        (
            "missing aud",
            json!({"aud": null}),
            401,
            "AUTH_001",
            "Authentication token is missing the `aud` claim",
        ),
        (
            "wrong aud",
            json!({"aud": "someone-else"}),
            401,
            "AUTH_001",
            "Authentication token audience is not accepted",
        ),
        (
            "ID token as access token",
            json!({"nonce": "n-1"}),
            401,
            "AUTH_001",
            "Authentication token is not an access token",
        ),
        (
            "expired",
            json!({"iat": now - 7200, "exp": now - 3600}),
            401,
            "AUTH_003",
            "Authentication token has expired",
        ),
        (
            "nbf in the future",
            json!({"nbf": now + 300}),
            401,
            "AUTH_001",
            "Authentication token is not yet valid",
        ),
        (
            "iat in the future",
            json!({"iat": now + 300, "exp": now + 600}),
            401,
            "AUTH_001",
            "Authentication token was issued in the future",
        ),
        (
            "lifetime over the cap",
            json!({"iat": now, "exp": now + 7200}),
            401,
            "AUTH_001",
            "Authentication token lifetime exceeds the allowed maximum",
        ),
        (
            "exp as a string",
            json!({"exp": (now + 60).to_string()}),
            401,
            "AUTH_001",
            "Authentication token claim `exp` is not valid",
        ),
        (
            "missing sub",
            json!({"sub": null}),
            401,
            "AUTH_001",
            "Authentication token is missing the `sub` claim",
        ),
        (
            "no tenant claim",
            json!({"tenant_id": null}),
            403,
            "AUTH_005",
            "Authentication token has no tenant claim",
        ),
        (
            "malformed tenant claim",
            json!({"tenant_id": "org 1; drop"}),
            403,
            "AUTH_007",
            "Authentication token tenant claim is malformed",
        ),
        (
            "unknown tenant",
            json!({"tenant_id": "org-nobody"}),
            403,
            "TENANT_001",
            "Tenant is not known",
        ),
        (
            "suspended tenant",
            json!({"tenant_id": "org-suspended"}),
            403,
            "TENANT_002",
            "Tenant is suspended",
        ),
    ];
    for (case, claims, status, code, message) in claim_cases {
        cases.push((
            case.into(),
            Some(forge.with_claims(claims).await),
            status,
            code,
            message,
        ));
    }

    let mut failures = Vec::new();
    for (case, token, status, code, message) in &cases {
        let (got, body, headers) = call(&app, "/api/v1/me", token.as_deref()).await;
        let error = &body["error"];
        if (got, error["code"].as_str(), error["message"].as_str())
            != (*status, Some(*code), Some(*message))
        {
            failures.push(format!(
                "{case}: expected {status} {code} {message:?}, got {got} {body}"
            ));
        }
        let challenge = headers
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok());
        let expected_challenge = (*status == 401).then_some(CHALLENGE);
        if challenge != expected_challenge {
            failures.push(format!(
                "{case}: WWW-Authenticate {challenge:?}, expected {expected_challenge:?}"
            ));
        }
        if error["request_id"].as_str() != headers.get("x-request-id").and_then(|v| v.to_str().ok())
        {
            failures.push(format!("{case}: request_id differs from X-Request-ID"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let basic = app
        .client
        .get(app.url("/api/v1/me"))
        .header("authorization", "Basic YTpi")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    assert_eq!(basic.headers()["www-authenticate"], CHALLENGE);
    app.stop().await;
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
    assert_eq!(error.variables(), ["OIDC_ISSUER_URL"]);
}

#[tokio::test]
async fn a_token_whose_key_is_published_during_the_refetch_cooldown_gets_503_with_retry_after() {
    let idp = Idp::start();
    let app = app_for(&idp).await;
    let validate = |token: String| {
        app.client
            .get(app.url("/api/v1/auth/validate"))
            .bearer_auth(token)
            .send()
    };
    // A never-published key, on a token older than the refetch it causes: 401.
    let issued = time::OffsetDateTime::now_utc().unix_timestamp() - 5;
    let unknown = idp
        .token(json!({"kid": "never-published", "claims": {"iat": issued}}))
        .await;
    let response = validate(unknown).await.expect("request");
    assert_eq!(response.status(), 401);
    // A key published now, during the cooldown that refetch started: retryable.
    idp.rotate().await;
    let fresh = idp.token(json!({})).await;
    let response = validate(fresh).await.expect("request");
    assert_eq!(response.status(), 503);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.expect("envelope");
    assert_eq!(body["error"]["code"], "AUTH_008");
}
