//! Forged, malformed and claim-violating tokens: each rejected with its own `AuthError`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use haven_api::auth::AuthError;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{COOLDOWN, b64, now, segments, with_header};
use haven_tests::idp::{CLIENT_ID, Idp};

#[tokio::test]
async fn forged_and_malformed_tokens_are_rejected_with_their_error() {
    let idp = Idp::start();
    let oidc = idp.oidc(COOLDOWN).await;
    let validator = oidc.validator();
    let good = idp.token(json!({})).await;
    let good_es = idp.token(json!({"alg": "ES256"})).await;
    let rsa_kid = idp.current_keys().await[0]["kid"]
        .as_str()
        .expect("kid")
        .to_owned();
    let attacker = idp.attacker_keys().await;
    let payload = segments(&good)[1].clone();
    let sig = segments(&good)[2].clone();

    let mut cases: Vec<(&str, String, AuthError)> = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(&json!({"alg": alg, "typ": "JWT"}));
        cases.push((
            "alg none, empty signature",
            format!("{header}.{payload}."),
            AuthError::Malformed,
        ));
        cases.push((
            "alg none, any signature",
            format!("{header}.{payload}.{sig}"),
            AuthError::BadAlgorithm,
        ));
    }
    let public_jwk = idp.current_keys().await[0].to_string();
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&payload).expect("b64")).expect("json");
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(rsa_kid.clone());
    let hs256 = jsonwebtoken::encode(
        &hs,
        &claims,
        &EncodingKey::from_secret(public_jwk.as_bytes()),
    )
    .expect("hs256");
    cases.push((
        "HS256 keyed with the public key",
        hs256,
        AuthError::BadAlgorithm,
    ));
    cases.push((
        "unknown kid",
        idp.token(json!({"kid": "no-such-key"})).await,
        AuthError::UnknownKid,
    ));
    for (name, extra) in [
        ("jwk", json!({"jwk": attacker[0]})),
        (
            "jku",
            json!({"jku": format!("{}/__control/attacker", idp.issuer)}),
        ),
        (
            "x5u",
            json!({"x5u": format!("{}/__control/attacker", idp.issuer)}),
        ),
    ] {
        let mut header = json!({"kid": "attacker-rsa"});
        header
            .as_object_mut()
            .expect("obj")
            .extend(extra.as_object().expect("obj").clone());
        let t = idp
            .token(json!({"signer": "attacker", "header": header}))
            .await;
        cases.push((name, t, AuthError::UnknownKid));
    }
    let forged = idp
        .token(json!({"signer": "attacker", "kid": rsa_kid, "header": {"jwk": attacker[0]}}))
        .await;
    cases.push((
        "attacker key under the real kid",
        forged,
        AuthError::BadSignature,
    ));
    cases.push((
        "stripped signature",
        format!("{}.{payload}.", segments(&good)[0]),
        AuthError::Malformed,
    ));
    cases.push((
        "four segments",
        format!("{good}.{sig}"),
        AuthError::Malformed,
    ));
    let zero = URL_SAFE_NO_PAD.encode([0u8; 64]);
    let s = segments(&good_es);
    cases.push((
        "ES256 all-zero signature",
        format!("{}.{}.{zero}", s[0], s[1]),
        AuthError::BadSignature,
    ));
    let es_header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&s[0]).expect("b64")).expect("json");
    let mut confused = es_header.clone();
    confused["kid"] = json!(rsa_kid);
    cases.push((
        "ES256 under an RSA kid",
        with_header(&good_es, confused),
        AuthError::BadAlgorithm,
    ));
    let mut crit = es_header.clone();
    crit["crit"] = json!(["exp"]);
    cases.push((
        "crit header",
        with_header(&good_es, crit),
        AuthError::CritHeader,
    ));
    cases.push((
        "typ JOSE",
        idp.token(json!({"header": {"typ": "JOSE"}})).await,
        AuthError::BadTyp,
    ));
    let big = "x".repeat(9000);
    cases.push((
        ">8 KiB",
        idp.token(json!({"claims": {"pad": big}})).await,
        AuthError::TooLarge,
    ));
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
        1,
        "no case may cause a JWKS refetch within the cooldown"
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
