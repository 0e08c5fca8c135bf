//! The login flow (openidconnect's client) against oauth2-mock-server: authorize, code exchange
//! with PKCE, ID token nonce, single-use codes, logout URL.

use haven_api::auth::{AuthError, StateKey, open_state};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use url::Url;

use super::{COOLDOWN, now};
use haven_tests::idp::Idp;

#[tokio::test]
async fn login_flow_exchanges_the_code_and_verifies_the_id_token_nonce() {
    let idp = Idp::start();
    let oidc = idp.oidc(COOLDOWN).await;
    let key = StateKey::generate();
    let secret = SecretString::from("test-client-secret");
    let redirect = Url::parse("http://127.0.0.1:9/callback").expect("url");
    idp.next_claims(json!({"tenant_id": "org-login", "roles": "admin auditor"}))
        .await;
    let login = oidc.login(&secret, &redirect, &key).expect("login");

    let resp = idp
        .http()
        .get(login.authorization_url.clone())
        .send()
        .await
        .expect("authorize");
    assert_eq!(resp.status(), 302);
    let location = Url::parse(resp.headers()["location"].to_str().expect("loc")).expect("url");
    let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["state"], login.sealed_state);
    let state = open_state(&q["state"], &key, now()).expect("state");

    let tokens = oidc
        .exchange_code(&secret, &q["code"], &state)
        .await
        .expect("exchange");
    assert_eq!(tokens.token_type, "Bearer");
    let id_token = tokens
        .id_token
        .as_ref()
        .expect("id token")
        .expose_secret()
        .to_owned();

    let v = oidc
        .validator()
        .validate(tokens.access_token.expose_secret())
        .await
        .expect("access token");
    assert_eq!(v.tenant_external_id, "org-login");
    assert_eq!(v.roles, vec!["admin".to_owned(), "auditor".to_owned()]);
    assert_eq!(
        oidc.validator().validate(&id_token).await,
        Err(AuthError::NotAccessToken)
    );
    // A code is single-use.
    let again = oidc.exchange_code(&secret, &q["code"], &state).await;
    assert_eq!(again.map(|_| ()), Err(AuthError::CodeRejected));

    // A wrong PKCE verifier is refused by the IdP.
    let (code, mut state) = authorize(&idp, &oidc, &secret, &redirect, &key).await;
    state.verifier = SecretString::from("x".repeat(43));
    let wrong = oidc.exchange_code(&secret, &code, &state).await;
    assert_eq!(wrong.map(|_| ()), Err(AuthError::CodeRejected));

    // An ID token whose nonce is not the sealed one is refused.
    let (code, mut state) = authorize(&idp, &oidc, &secret, &redirect, &key).await;
    state.nonce = "other-nonce".into();
    let wrong = oidc.exchange_code(&secret, &code, &state).await;
    assert_eq!(wrong.map(|_| ()), Err(AuthError::StateInvalid));

    // Logout: the end-session endpoint redirects back to our (encoded) URI.
    let back = Url::parse("http://127.0.0.1:9/bye?x=1&y=a b").expect("url");
    let logout = oidc
        .logout_url(Some(&id_token), &back)
        .expect("ready")
        .expect("endpoint");
    let resp = idp.http().get(logout).send().await.expect("logout");
    assert_eq!(resp.status(), 302);
    assert_eq!(
        resp.headers()["location"].to_str().expect("loc"),
        back.as_str()
    );
}

/// A fresh authorization: the code the provider redirects with, and the opened state.
async fn authorize(
    idp: &Idp,
    oidc: &haven_api::auth::Oidc,
    secret: &SecretString,
    redirect: &Url,
    key: &StateKey,
) -> (String, haven_api::auth::StateData) {
    let login = oidc.login(secret, redirect, key).expect("login");
    let resp = idp
        .http()
        .get(login.authorization_url)
        .send()
        .await
        .expect("authorize");
    let location = Url::parse(resp.headers()["location"].to_str().expect("loc")).expect("url");
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .expect("code")
        .1
        .into_owned();
    let state = open_state(&login.sealed_state, key, now()).expect("state");
    (code, state)
}
