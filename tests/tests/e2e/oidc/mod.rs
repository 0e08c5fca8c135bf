//! `TokenValidator`, the JWKS cache and the login helpers against a real OIDC provider
//! (oauth2-mock-server, started per test from tests/oidc/server.mjs).

mod accepted;
mod certified;
pub(crate) mod forge;
mod keys;
mod login;
mod rejections;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use haven_api::auth::Oidc;
use haven_tests::idp::Idp;
use serde_json::{Value, json};
use time::OffsetDateTime;

pub(super) const COOLDOWN: Duration = Duration::from_secs(30);

pub(super) fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

pub(super) fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

pub(super) fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

/// `token` with its header replaced (payload and signature kept).
pub(super) fn with_header(token: &str, header: Value) -> String {
    let s = segments(token);
    format!("{}.{}.{}", b64(&header), s[1], s[2])
}

#[tokio::test]
async fn valid_rs256_and_es256_tokens_are_accepted() {
    let idp = Idp::start();
    let oidc = idp.oidc(COOLDOWN).await;
    let validator = oidc.validator();
    for alg in ["RS256", "ES256"] {
        let exp = now() + 300;
        let token = idp
            .token(json!({"alg": alg, "header": {"typ": "at+jwt"}, "claims": {"sub": "user-7", "exp": exp, "roles": "admin auditor"}}))
            .await;
        let v = validator
            .validate(&token)
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        assert_eq!(v.subject, "user-7");
        assert_eq!(v.tenant_external_id, "org-1");
        assert_eq!(v.roles, vec!["admin".to_owned(), "auditor".to_owned()]);
        assert_eq!(v.expires_at.unix_timestamp(), exp);
    }
    // A token without kid is accepted when exactly one key of its type is published.
    let token = idp
        .token(json!({"alg": "ES256", "header": {"kid": null}}))
        .await;
    assert!(validator.validate(&token).await.is_ok());
    // Tenant claim names with ':' and '/' are plain JSON keys.
    let mut settings = idp.settings(COOLDOWN);
    settings.tenant_claim = "https://example.com/tenant".into();
    settings.roles_claim = "cognito:groups".into();
    let custom = Oidc::start(settings).expect("settings");
    assert!(custom.wait_ready(Duration::from_secs(10)).await);
    let token = idp
        .token(json!({"claims": {"https://example.com/tenant": "org-9", "cognito:groups": ["clinicians"]}}))
        .await;
    let v = custom
        .validator()
        .validate(&token)
        .await
        .expect("custom claims");
    assert_eq!(
        (v.tenant_external_id.as_str(), v.roles),
        ("org-9", vec!["clinicians".to_owned()])
    );
    assert_eq!(
        oidc.jwks_fetch_count(),
        1,
        "discovery's JWKS seeds the cache"
    );
}
