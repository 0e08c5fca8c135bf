//! Unit tests for the claim rules in `claims.rs`.

use serde_json::{Map, Value, json};

use super::*;

const NOW: i64 = 1_800_000_000;

fn settings() -> AuthSettings {
    AuthSettings::new("https://idp.example.com/", "haven")
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn base() -> Map<String, Value> {
    obj(json!({"iss":"https://idp.example.com/","sub":"u1","aud":"haven","iat":NOW,"exp":NOW+600}))
}

fn with(mut m: Map<String, Value>, k: &str, v: Value) -> Map<String, Value> {
    if v.is_null() {
        m.remove(k);
    } else {
        m.insert(k.to_owned(), v);
    }
    m
}

#[test]
fn common_rules_accept_a_plain_token() {
    let times = check_common(&base(), &settings(), NOW);
    assert_eq!(
        times,
        Ok(Times {
            iat: NOW,
            exp: NOW + 600
        })
    );
}

#[test]
fn time_claims_must_be_numbers() {
    let s = settings();
    for (claim, value) in [
        ("exp", json!("1800000600")),
        ("iat", json!("1800000000")),
        ("nbf", json!(true)),
        ("iat", json!(-1)),
        ("exp", json!({"v":1})),
    ] {
        let c = with(base(), claim, value);
        assert!(
            matches!(check_common(&c, &s, NOW), Err(AuthError::WrongType(_))),
            "{claim}"
        );
    }
    assert_eq!(
        check_common(&with(base(), "iat", Value::Null), &s, NOW),
        Err(AuthError::MissingClaim("iat"))
    );
    let fractional = with(base(), "iat", json!(1_800_000_000.5));
    assert_eq!(check_common(&fractional, &s, NOW).map(|t| t.iat), Ok(NOW));
}

#[test]
fn iat_in_the_future_beyond_leeway_is_refused() {
    let s = settings();
    let ok = with(base(), "iat", json!(NOW + 30));
    assert!(check_common(&ok, &s, NOW).is_ok());
    let bad = with(base(), "iat", json!(NOW + 31));
    assert_eq!(check_common(&bad, &s, NOW), Err(AuthError::IatInFuture));
}

#[test]
fn issuer_must_be_the_exact_string() {
    let s = settings();
    for iss in [
        json!("https://idp.example.com"),
        json!("https://IDP.example.com/"),
    ] {
        assert_eq!(
            check_common(&with(base(), "iss", iss), &s, NOW),
            Err(AuthError::BadIssuer)
        );
    }
    let array = with(base(), "iss", json!(["https://idp.example.com/"]));
    assert_eq!(
        check_common(&array, &s, NOW),
        Err(AuthError::WrongType("iss"))
    );
}

#[test]
fn subject_must_be_a_non_empty_string() {
    let s = settings();
    for sub in [
        json!(""),
        json!("  "),
        json!(42),
        json!(["u"]),
        json!("a\u{0}b"),
    ] {
        assert_eq!(
            check_common(&with(base(), "sub", sub), &s, NOW),
            Err(AuthError::WrongType("sub"))
        );
    }
    assert_eq!(
        check_common(&with(base(), "sub", Value::Null), &s, NOW),
        Err(AuthError::MissingClaim("sub"))
    );
}

#[test]
fn lifetime_over_the_cap_is_refused() {
    let s = settings();
    let ok = Times {
        iat: NOW,
        exp: NOW + 3600,
    };
    assert_eq!(check_access_token(&base(), &s, ok, false), Ok(()));
    let long = Times {
        iat: NOW,
        exp: NOW + 3601,
    };
    assert_eq!(
        check_access_token(&base(), &s, long, false),
        Err(AuthError::LifetimeTooLong)
    );
}

#[test]
fn id_tokens_are_not_access_tokens() {
    let s = settings();
    let t = Times {
        iat: NOW,
        exp: NOW + 60,
    };
    for (claim, value) in [
        ("nonce", json!("n")),
        ("at_hash", json!("x")),
        ("c_hash", json!("x")),
        ("typ", json!("ID")),
        ("token_use", json!("id")),
    ] {
        let c = with(base(), claim, value);
        assert_eq!(
            check_access_token(&c, &s, t, false),
            Err(AuthError::NotAccessToken),
            "{claim}"
        );
    }
    // An explicitly typed access token may carry a nonce, but never token_use=id.
    assert_eq!(
        check_access_token(&with(base(), "nonce", json!("n")), &s, t, true),
        Ok(())
    );
    let id = with(base(), "token_use", json!("id"));
    assert_eq!(
        check_access_token(&id, &s, t, true),
        Err(AuthError::NotAccessToken)
    );
}

#[test]
fn cognito_mode_needs_client_id_and_token_use_access() {
    let mut s = settings();
    s.audience_mode = AudienceMode::CognitoClientId;
    let t = Times {
        iat: NOW,
        exp: NOW + 60,
    };
    let good = with(
        with(base(), "client_id", json!("haven")),
        "token_use",
        json!("access"),
    );
    assert_eq!(check_access_token(&good, &s, t, false), Ok(()));
    let other = with(good.clone(), "client_id", json!("someone-else"));
    assert_eq!(
        check_access_token(&other, &s, t, false),
        Err(AuthError::BadAudience)
    );
    let no_use = with(good.clone(), "token_use", Value::Null);
    assert_eq!(
        check_access_token(&no_use, &s, t, false),
        Err(AuthError::NotAccessToken)
    );
    let no_client = with(good, "client_id", Value::Null);
    assert_eq!(
        check_access_token(&no_client, &s, t, false),
        Err(AuthError::MissingClaim("client_id"))
    );
}

#[test]
fn tenant_claim_rules() {
    let c = obj(json!({
        "tenant_id": "org-456",
        "custom:tenant_id": "org_abc.1",
        "https://example.com/tenant": "acme@eu/prod:2",
        "num": 456, "empty": "", "space": "org 1", "nul": null,
        "long": "a".repeat(129), "max": "a".repeat(128), "unicode": "оrg", "pct": "org%201",
        "arr": ["org-1"]
    }));
    assert_eq!(tenant_from_claims(&c, "tenant_id"), Ok("org-456".into()));
    assert_eq!(
        tenant_from_claims(&c, "custom:tenant_id"),
        Ok("org_abc.1".into())
    );
    assert_eq!(
        tenant_from_claims(&c, "https://example.com/tenant"),
        Ok("acme@eu/prod:2".into())
    );
    assert!(tenant_from_claims(&c, "max").is_ok());
    assert_eq!(
        tenant_from_claims(&c, "absent"),
        Err(AuthError::TenantClaimMissing)
    );
    assert_eq!(
        tenant_from_claims(&c, "nul"),
        Err(AuthError::TenantClaimMissing)
    );
    for bad in ["num", "empty", "space", "long", "unicode", "pct", "arr"] {
        assert_eq!(
            tenant_from_claims(&c, bad),
            Err(AuthError::TenantClaimMalformed),
            "{bad}"
        );
    }
}

#[test]
fn roles_parse_from_array_or_space_separated_string() {
    let c = obj(json!({
        "roles": ["admin", "auditor", "admin", " "],
        "cognito:groups": ["clinicians"],
        "scope_like": "admin  viewer\tauditor",
        "bad_item": ["admin", 1], "bad_type": {"admin": true}, "nul": null
    }));
    assert_eq!(
        roles_from_claims(&c, "roles"),
        Ok(vec!["admin".into(), "auditor".into()])
    );
    assert_eq!(
        roles_from_claims(&c, "cognito:groups"),
        Ok(vec!["clinicians".into()])
    );
    assert_eq!(
        roles_from_claims(&c, "scope_like"),
        Ok(vec!["admin".into(), "viewer".into(), "auditor".into()])
    );
    assert_eq!(roles_from_claims(&c, "absent"), Ok(vec![]));
    assert_eq!(roles_from_claims(&c, "nul"), Ok(vec![]));
    assert_eq!(
        roles_from_claims(&c, "bad_item"),
        Err(AuthError::WrongType("roles"))
    );
    assert_eq!(
        roles_from_claims(&c, "bad_type"),
        Err(AuthError::WrongType("roles"))
    );
}
