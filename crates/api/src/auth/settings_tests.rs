//! Unit tests of the identity-provider settings.

use super::*;

fn ok() -> AuthSettings {
    AuthSettings::new("https://idp.example.com/realms/haven", "haven")
}

#[test]
fn defaults_are_valid_and_audience_defaults_to_client_id() {
    let s = ok();
    assert_eq!(s.validate(), Ok(()));
    assert_eq!(s.audience, "haven");
    assert_eq!(
        s.allowed_algorithms,
        vec![Algorithm::RS256, Algorithm::ES256]
    );
}

#[test]
fn hmac_algorithms_are_refused() {
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let mut s = ok();
        s.allowed_algorithms.push(alg);
        assert_eq!(
            s.validate().map_err(|e| e.field),
            Err("JWT_ALLOWED_ALGORITHMS")
        );
    }
    let mut s = ok();
    s.allowed_algorithms.clear();
    assert!(s.validate().is_err());
}

#[test]
fn plain_http_issuer_is_refused_unless_loopback_or_allowed() {
    let mut s = ok();
    s.issuer_url = "http://idp.example.com".into();
    assert_eq!(s.validate().map_err(|e| e.field), Err("OIDC_ISSUER_URL"));
    s.allow_insecure_http = true;
    assert_eq!(s.validate(), Ok(()));
    let s = AuthSettings::new("http://127.0.0.1:8080", "haven");
    assert_eq!(s.validate(), Ok(()));
}

#[test]
fn leeway_over_five_minutes_is_refused() {
    let mut s = ok();
    s.leeway = Duration::from_secs(301);
    assert_eq!(s.validate().map_err(|e| e.field), Err("JWT_LEEWAY_SECONDS"));
}

#[test]
fn offline_access_is_requested_only_with_refresh_tokens_and_scopes_appear_once() {
    let mut login = LoginSettings {
        scopes: ["profile", "openid", "profile", "api://x/.default"]
            .map(str::to_owned)
            .to_vec(),
        ..LoginSettings::default()
    };
    assert_eq!(
        login.requested_scopes(),
        ["openid", "profile", "api://x/.default"]
    );
    login.refresh_tokens = true;
    assert_eq!(
        login.requested_scopes(),
        ["openid", "profile", "api://x/.default", "offline_access"]
    );
}

#[test]
fn every_bad_setting_is_reported_once_by_its_variable() {
    let mut s = AuthSettings::new("ftp://idp", "");
    s.leeway = Duration::from_secs(301);
    s.accepted_tokens = 1_000_001;
    s.login.api_audience = Some("not a uri".into());
    let fields: Vec<_> = s.problems().into_iter().map(|p| p.field).collect();
    assert_eq!(
        fields,
        [
            "OIDC_ISSUER_URL",
            "OIDC_CLIENT_ID",
            "JWT_LEEWAY_SECONDS",
            "JWT_ACCEPTED_TOKEN_CACHE_SIZE",
            "OIDC_API_AUDIENCE"
        ]
    );
}
