//! Forged, malformed and claim-violating tokens: each rejected with its own `AuthError`.

use haven_api::auth::AuthError;
use serde_json::{Value, json};

use super::forge::{ALG_NONE_CASINGS, Forge};
use super::{COOLDOWN, now};
use haven_tests::idp::{CLIENT_ID, Idp};

#[tokio::test]
async fn forged_and_malformed_tokens_are_rejected_with_their_error() {
    let idp = Idp::start();
    let oidc = idp.oidc(COOLDOWN).await;
    let validator = oidc.validator();
    let forge = Forge::new(&idp).await;

    let mut cases: Vec<(&str, String, AuthError)> = Vec::new();
    for alg in ALG_NONE_CASINGS {
        cases.push((
            "alg none, empty signature",
            forge.alg_none(alg, false),
            AuthError::Malformed,
        ));
        cases.push((
            "alg none, any signature",
            forge.alg_none(alg, true),
            AuthError::BadAlgorithm,
        ));
    }
    cases.push((
        "HS256 keyed with the public key",
        forge.hs256_with_public_key().await,
        AuthError::BadAlgorithm,
    ));
    cases.push((
        "unknown kid",
        forge.unknown_kid().await,
        AuthError::UnknownKid,
    ));
    for param in ["jwk", "jku", "x5u"] {
        cases.push((
            param,
            forge.injected_key(param).await,
            AuthError::UnknownKid,
        ));
    }
    cases.push((
        "attacker key under the real kid",
        forge.attacker_under_real_kid().await,
        AuthError::BadSignature,
    ));
    cases.push((
        "stripped signature",
        forge.stripped_signature(),
        AuthError::Malformed,
    ));
    cases.push(("four segments", forge.four_segments(), AuthError::Malformed));
    cases.push((
        "ES256 all-zero signature",
        forge.es256_zero_signature(),
        AuthError::BadSignature,
    ));
    cases.push((
        "ES256 under an RSA kid",
        forge.es256_under_rsa_kid(),
        AuthError::BadAlgorithm,
    ));
    cases.push(("crit header", forge.crit_header(), AuthError::CritHeader));
    cases.push((
        "typ JOSE",
        idp.token(json!({"header": {"typ": "JOSE"}})).await,
        AuthError::BadTyp,
    ));
    cases.push((">8 KiB", forge.oversized().await, AuthError::TooLarge));
    let raw = format!(
        r#"{{"iss":"{}","sub":"a","sub":"b","aud":"{CLIENT_ID}","iat":{},"exp":{},"tenant_id":"org-1"}}"#,
        idp.issuer,
        now(),
        now() + 60
    );
    cases.push((
        "duplicate claim",
        idp.token(json!({"payload_raw": raw})).await,
        AuthError::Malformed,
    ));
    cases.push(("garbage", "not a token".to_owned(), AuthError::Malformed));

    let mut failures = Vec::new();
    for (name, token, expected) in &cases {
        let got = validator.validate(token).await;
        if got.as_ref().err() != Some(expected) {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        idp.jwks_requests().await,
        2,
        "discovery, then one refetch for the first unknown kid: none after it within the cooldown"
    );
}

#[tokio::test]
async fn claim_violations_are_rejected_with_their_error() {
    let idp = Idp::start();
    let oidc = idp.oidc(COOLDOWN).await;
    let validator = oidc.validator();
    let t = now();
    let cases: Vec<(&str, Value, AuthError)> = vec![
        (
            "wrong iss",
            json!({"iss": "http://evil.example"}),
            AuthError::BadIssuer,
        ),
        (
            "iss with trailing slash",
            json!({"iss": format!("{}/", idp.issuer)}),
            AuthError::BadIssuer,
        ),
        (
            "missing aud",
            json!({"aud": null}),
            AuthError::MissingClaim("aud"),
        ),
        (
            "wrong aud",
            json!({"aud": "someone-else"}),
            AuthError::BadAudience,
        ),
        (
            "wrong aud in array",
            json!({"aud": ["a", "b"]}),
            AuthError::BadAudience,
        ),
        (
            "expired",
            json!({"iat": t - 600, "exp": t - 120}),
            AuthError::Expired,
        ),
        (
            "nbf in the future",
            json!({"nbf": t + 300}),
            AuthError::NotYetValid,
        ),
        (
            "iat in the future",
            json!({"iat": t + 300, "exp": t + 600}),
            AuthError::IatInFuture,
        ),
        (
            "lifetime over cap",
            json!({"iat": t, "exp": t + 7200}),
            AuthError::LifetimeTooLong,
        ),
        (
            "exp as string",
            json!({"exp": (t + 60).to_string()}),
            AuthError::WrongType("exp"),
        ),
        (
            "iat as string",
            json!({"iat": t.to_string()}),
            AuthError::WrongType("iat"),
        ),
        (
            "nbf as string",
            json!({"nbf": t.to_string()}),
            AuthError::WrongType("nbf"),
        ),
        (
            "missing iat",
            json!({"iat": null}),
            AuthError::MissingClaim("iat"),
        ),
        (
            "missing exp",
            json!({"exp": null}),
            AuthError::MissingClaim("exp"),
        ),
        (
            "missing sub",
            json!({"sub": null}),
            AuthError::MissingClaim("sub"),
        ),
        ("empty sub", json!({"sub": ""}), AuthError::WrongType("sub")),
        (
            "numeric sub",
            json!({"sub": 42}),
            AuthError::WrongType("sub"),
        ),
        (
            "ID token (nonce)",
            json!({"nonce": "n-1"}),
            AuthError::NotAccessToken,
        ),
        (
            "ID token (at_hash)",
            json!({"at_hash": "x"}),
            AuthError::NotAccessToken,
        ),
        (
            "Cognito ID token",
            json!({"token_use": "id"}),
            AuthError::NotAccessToken,
        ),
        (
            "missing tenant",
            json!({"tenant_id": null}),
            AuthError::TenantClaimMissing,
        ),
        (
            "numeric tenant",
            json!({"tenant_id": 456}),
            AuthError::TenantClaimMalformed,
        ),
        (
            "tenant with space",
            json!({"tenant_id": "org 1"}),
            AuthError::TenantClaimMalformed,
        ),
        (
            "empty tenant",
            json!({"tenant_id": ""}),
            AuthError::TenantClaimMalformed,
        ),
        (
            "roles object",
            json!({"roles": {"admin": true}}),
            AuthError::WrongType("roles"),
        ),
    ];
    let mut failures = Vec::new();
    for (name, claims, expected) in cases {
        let token = idp.token(json!({"claims": claims})).await;
        let got = validator.validate(&token).await;
        if got.as_ref().err() != Some(&expected) {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let within_leeway = idp
        .token(json!({"claims": {"iat": t + 20, "exp": t + 600}}))
        .await;
    assert!(validator.validate(&within_leeway).await.is_ok());
}
