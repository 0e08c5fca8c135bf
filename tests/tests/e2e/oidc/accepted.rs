//! The validator's cache of accepted tokens: a token accepted once is accepted again without a
//! signature check, and only while every check it passed would still pass.

use std::time::Duration;

use haven_api::auth::{AuthError, Oidc};
use serde_json::json;

use super::{COOLDOWN, now, segments};
use haven_tests::idp::Idp;

#[tokio::test]
async fn a_token_accepted_once_is_answered_again_from_the_cache_by_every_validator() {
    let idp = Idp::start();
    let oidc = idp.oidc(COOLDOWN).await;
    let token = idp.token(json!({"claims": {"sub": "user-3"}})).await;
    let first = oidc.validator().validate(&token).await.expect("first");
    assert_eq!(
        oidc.token_cache_hits(),
        0,
        "the first sight is checked in full"
    );
    let again = oidc.validator().validate(&token).await.expect("again");
    assert_eq!(again, first, "the same answer");
    assert_eq!(oidc.token_cache_hits(), 1, "clones share the cache");
    // Another token of the same user is its own entry.
    let other = idp
        .token(json!({"claims": {"sub": "user-3", "jti": "x"}}))
        .await;
    oidc.validator().validate(&other).await.expect("other");
    assert_eq!(oidc.token_cache_hits(), 1);
}

#[tokio::test]
async fn a_remembered_token_with_another_signature_is_checked_and_refused() {
    let idp = Idp::start();
    let oidc = idp.oidc(COOLDOWN).await;
    let validator = oidc.validator();
    let token = idp.token(json!({})).await;
    let donor = idp.token(json!({"claims": {"sub": "someone-else"}})).await;
    validator.validate(&token).await.expect("genuine");
    let parts = segments(&token);
    let forged = format!("{}.{}.{}", parts[0], parts[1], segments(&donor)[2]);
    assert_eq!(
        validator.validate(&forged).await,
        Err(AuthError::BadSignature)
    );
    assert_eq!(validator.repeats(), 0);
}

#[tokio::test]
async fn a_remembered_token_is_refused_once_it_expires() {
    let idp = Idp::start();
    let mut settings = idp.settings(COOLDOWN);
    settings.leeway = Duration::ZERO;
    let oidc = Oidc::start(settings).expect("settings");
    assert!(oidc.wait_ready(Duration::from_secs(10)).await);
    let validator = oidc.validator();
    let exp = now() + 2;
    let token = idp.token(json!({"claims": {"exp": exp}})).await;
    validator.validate(&token).await.expect("fresh");
    validator.validate(&token).await.expect("remembered");
    assert_eq!(validator.repeats(), 1);
    while now() <= exp {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(validator.validate(&token).await, Err(AuthError::Expired));
    assert_eq!(validator.repeats(), 1, "not answered from the cache");
}

#[tokio::test]
async fn a_new_key_set_forgets_every_remembered_token() {
    let idp = Idp::start();
    let oidc = idp.oidc(COOLDOWN).await;
    let validator = oidc.validator();
    let old = idp.token(json!({})).await;
    validator.validate(&old).await.expect("old key");
    validator.validate(&old).await.expect("remembered");
    assert_eq!(validator.repeats(), 1);
    // The provider drops the old key; an operator's "refetch now" reaches this replica.
    idp.rotate().await;
    let jwks = oidc.jwks().expect("discovered");
    jwks.force_refresh().await.expect("refetched");
    assert_eq!(validator.validate(&old).await, Err(AuthError::UnknownKid));
    assert_eq!(validator.repeats(), 1);
    let new = idp.token(json!({})).await;
    validator.validate(&new).await.expect("new key");
    validator
        .validate(&new)
        .await
        .expect("remembered under the new set");
    assert_eq!(validator.repeats(), 2);
}

#[tokio::test]
async fn a_stale_key_set_is_refetched_before_a_remembered_token_is_accepted() {
    let idp = Idp::start();
    let mut settings = idp.settings(COOLDOWN);
    settings.jwks_ttl = Duration::from_secs(1);
    let oidc = Oidc::start(settings).expect("settings");
    assert!(oidc.wait_ready(Duration::from_secs(10)).await);
    let validator = oidc.validator();
    let token = idp.token(json!({})).await;
    validator.validate(&token).await.expect("first");
    idp.reset_stats().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    validator.validate(&token).await.expect("after the TTL");
    assert_eq!(validator.repeats(), 0, "checked in full");
    assert_eq!(idp.jwks_requests().await, 1, "the stale set was refetched");
    validator.validate(&token).await.expect("remembered again");
    assert_eq!(validator.repeats(), 1);
}

#[tokio::test]
async fn with_no_room_for_accepted_tokens_every_token_is_verified_in_full() {
    let idp = Idp::start();
    let mut settings = idp.settings(COOLDOWN);
    settings.accepted_tokens = 0;
    let oidc = Oidc::start(settings).expect("settings");
    assert!(oidc.wait_ready(Duration::from_secs(10)).await);
    let validator = oidc.validator();
    let token = idp.token(json!({"claims": {"sub": "user-4"}})).await;
    let first = validator.validate(&token).await.expect("first");
    assert_eq!(validator.validate(&token).await, Ok(first), "same answer");
    assert_eq!(oidc.token_cache_hits(), 0, "nothing remembered");
}
