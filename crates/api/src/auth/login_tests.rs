//! Unit tests of the login URL builders (the exchanges run against real providers in tests/).

use std::collections::HashMap;
use std::time::Duration;

use super::*;
use crate::auth::settings::LoginSettings;

fn provider() -> OidcProvider {
    OidcProvider {
        issuer: "https://idp.example.com".into(),
        jwks_uri: Url::parse("https://idp.example.com/jwks").expect("url"),
        authorization_endpoint: Url::parse("https://idp.example.com/authorize?tenant=x")
            .expect("url"),
        token_endpoint: Some(Url::parse("https://idp.example.com/token").expect("url")),
        end_session_endpoint: Some(Url::parse("https://idp.example.com/logout").expect("url")),
        token_auth_methods: vec![],
    }
}

fn authorization_query(login: LoginSettings) -> (HashMap<String, String>, LoginRequest, StateKey) {
    let mut settings = AuthSettings::new("https://idp.example.com", "haven");
    settings.login = login;
    let http = HttpClient::new(Duration::from_secs(1), 1024).expect("client");
    let jwks = JwksCache::new(
        http.clone(),
        Url::parse("https://idp.example.com/jwks").expect("url"),
        Duration::from_secs(60),
        Duration::from_secs(1),
    );
    let provider = provider();
    let context = LoginContext {
        settings: &settings,
        provider: &provider,
        jwks: &jwks,
        http: &http,
    };
    let key = StateKey::generate();
    let redirect = Url::parse("https://app.example.com/cb?x=1&y=a b").expect("url");
    let secret = SecretString::from("s".repeat(32));
    let login = context.start(&secret, &redirect, &key).expect("login");
    let query = login.authorization_url.query_pairs().into_owned().collect();
    (query, login, key)
}

#[test]
fn authorization_url_carries_pkce_state_nonce_and_the_configured_scopes() {
    let (q, login, key) = authorization_query(LoginSettings::default());
    assert_eq!(q["tenant"], "x");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "haven");
    assert_eq!(q["redirect_uri"], "https://app.example.com/cb?x=1&y=a%20b");
    assert_eq!(q["scope"], "openid profile email");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["state"], login.sealed_state);
    assert!(!q.contains_key("resource") && !q.contains_key("audience"));
    let state = login_state::open_state(
        &login.sealed_state,
        &key,
        OffsetDateTime::now_utc().unix_timestamp(),
    )
    .expect("state");
    assert_eq!(q["nonce"], state.nonce);
    let verifier = PkceCodeVerifier::new(state.verifier.expose_secret().to_owned());
    assert_eq!(
        q["code_challenge"].as_str(),
        PkceCodeChallenge::from_code_verifier_sha256(&verifier).as_str()
    );
    assert_eq!(state.redirect_uri, "https://app.example.com/cb?x=1&y=a%20b");
}

#[test]
fn the_api_audience_goes_in_the_configured_parameter_and_refresh_adds_offline_access() {
    let login = |param, refresh_tokens| LoginSettings {
        scopes: vec!["openid".into(), "api.read".into()],
        api_audience: Some("https://api.example.com".into()),
        audience_param: param,
        refresh_tokens,
        prompt: refresh_tokens.then(|| "consent".to_owned()),
    };
    let (q, ..) = authorization_query(login(AudienceParam::Resource, true));
    assert_eq!(q["resource"], "https://api.example.com");
    assert_eq!(q["scope"], "openid api.read offline_access");
    assert_eq!(q["prompt"], "consent");
    let (q, ..) = authorization_query(login(AudienceParam::Audience, false));
    assert_eq!(q["audience"], "https://api.example.com");
    assert!(!q.contains_key("resource"));
    assert_eq!(q["scope"], "openid api.read");
    let (q, ..) = authorization_query(login(AudienceParam::None, false));
    assert!(!q.contains_key("resource") && !q.contains_key("audience"));
}

#[test]
fn logout_url_is_percent_encoded() {
    let back = Url::parse("https://app.example.com/bye?a=1&b=two words").expect("url");
    let url = logout_url(&provider(), Some("h.i&nt"), &back, "haven&co").expect("url");
    let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(q[0], ("id_token_hint".into(), "h.i&nt".into()));
    assert_eq!(q[1], ("post_logout_redirect_uri".into(), back.to_string()));
    assert_eq!(q[2], ("client_id".into(), "haven&co".into()));
    assert!(!url.as_str().contains("haven&co"));
    let mut none = provider();
    none.end_session_endpoint = None;
    assert!(logout_url(&none, None, &back, "haven").is_none());
}

#[test]
fn token_response_debug_hides_tokens() {
    let t = TokenResponse {
        access_token: SecretString::from("at-secret"),
        token_type: "Bearer".into(),
        expires_in: Some(60),
        id_token: Some(SecretString::from("id-secret")),
        refresh_token: Some(SecretString::from("rt-secret")),
    };
    let shown = format!("{t:?}");
    assert!(!shown.contains("at-secret") && !shown.contains("id-secret"));
    assert!(!shown.contains("rt-secret"));
}
