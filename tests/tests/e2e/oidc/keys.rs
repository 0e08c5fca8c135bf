//! Key cache behaviour against the real provider: rotation, unknown-kid floods, outages,
//! discovery retries.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use haven_api::auth::{AuthError, AuthSettings, Oidc};
use serde_json::{Value, json};

use super::{b64, now, segments, with_header};
use haven_tests::idp::{CLIENT_ID, Idp, free_port};

#[tokio::test]
async fn rotated_key_is_accepted_after_one_refetch() {
    let idp = Idp::start();
    let cooldown = Duration::from_millis(800);
    let oidc = idp.oidc(cooldown).await;
    let validator = oidc.validator();
    // Issued seconds before the refetch below: within the cooldown a missing key is final only
    // for a token older than the key set (to the second, as `iat` is); issued in the same second
    // as the refetch, it is answered as retryable instead, which made this test flaky.
    let old = idp.token(json!({"claims": {"iat": now() - 5}})).await;
    assert!(validator.validate(&old).await.is_ok());
    idp.rotate().await;
    idp.reset_stats().await;
    let new = idp.token(json!({})).await;
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
    validator
        .validate(&new)
        .await
        .expect("new key after refetch");
    assert!(validator.validate(&new).await.is_ok());
    assert_eq!(idp.jwks_requests().await, 1);
    // The old key left the JWKS: its tokens now fail, without another fetch in the cooldown.
    assert_eq!(validator.validate(&old).await, Err(AuthError::UnknownKid));
    assert_eq!(idp.jwks_requests().await, 1);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_fetches_the_jwks_at_most_once_per_cooldown() {
    let idp = Idp::start();
    let cooldown = Duration::from_secs(2);
    let oidc = idp.oidc(cooldown).await;
    let validator = oidc.validator();
    let template = idp.token(json!({})).await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(segments(&template)[0].as_bytes())
            .expect("b64"),
    )
    .expect("json");
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
    idp.reset_stats().await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..500 {
        let mut h = header.clone();
        h["kid"] = json!(format!("random-{i}-{}", rand_suffix(i)));
        let token = with_header(&template, h);
        let validator = validator.clone();
        tasks.push(tokio::spawn(
            async move { validator.validate(&token).await },
        ));
    }
    for task in tasks {
        assert_eq!(task.await.expect("join"), Err(AuthError::UnknownKid));
    }
    let elapsed = started.elapsed();
    let allowed = 1 + (elapsed.as_millis() / cooldown.as_millis()) as u64;
    let fetched = idp.jwks_requests().await;
    assert!(
        fetched >= 1 && fetched <= allowed,
        "{fetched} JWKS fetches in {elapsed:?}"
    );
    // The known key still works throughout.
    assert!(validator.validate(&template).await.is_ok());
}

fn rand_suffix(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (now() as u64)
}

#[tokio::test]
async fn when_the_idp_dies_cached_keys_still_work_and_unknown_kids_are_unavailable() {
    let mut idp = Idp::start();
    let cooldown = Duration::from_millis(500);
    let oidc = idp.oidc(cooldown).await;
    let validator = oidc.validator();
    let good = idp.token(json!({"alg": "ES256"})).await;
    let unknown = idp.token(json!({"kid": "rotated-in-later"})).await;
    assert!(validator.validate(&good).await.is_ok());
    idp.kill();
    tokio::time::sleep(cooldown + Duration::from_millis(100)).await;
    assert_eq!(
        validator.validate(&unknown).await,
        Err(AuthError::IdpUnavailable)
    );
    assert_eq!(
        validator.validate(&unknown).await,
        Err(AuthError::IdpUnavailable)
    );
    assert!(
        validator.validate(&good).await.is_ok(),
        "cached key survives the outage"
    );
    assert_eq!(AuthError::IdpUnavailable.status(), 503);
}

#[tokio::test]
async fn validation_waits_for_discovery_which_retries_until_the_idp_is_up() {
    let port = free_port();
    let mut settings = AuthSettings::new(format!("http://127.0.0.1:{port}"), CLIENT_ID);
    settings.http_timeout = Duration::from_secs(1);
    let oidc = Oidc::start(settings).expect("start never needs the IdP");
    let validator = oidc.validator();
    let fake = format!(
        "{}.{}.c2ln",
        b64(&json!({"alg": "RS256", "kid": "k"})),
        b64(&json!({"sub": "x"}))
    );
    assert_eq!(
        validator.validate(&fake).await,
        Err(AuthError::IdpUnavailable)
    );
    assert_eq!(
        validator.validate("a.b").await,
        Err(AuthError::Malformed),
        "cheap checks first"
    );
    assert!(!oidc.is_ready());
    tokio::time::sleep(Duration::from_millis(600)).await;
    let idp = Idp::start_on(port);
    assert!(
        oidc.wait_ready(Duration::from_secs(20)).await,
        "discovery retried"
    );
    let token = idp.token(json!({})).await;
    assert!(validator.validate(&token).await.is_ok());
}

#[tokio::test]
async fn stale_keys_are_refetched_before_use_and_kept_when_the_refetch_fails() {
    let idp = Idp::start();
    let mut settings = idp.settings(Duration::from_millis(300));
    settings.jwks_ttl = Duration::from_secs(1);
    let oidc = Oidc::start(settings).expect("settings");
    assert!(oidc.wait_ready(Duration::from_secs(10)).await);
    let validator = oidc.validator();
    let token = idp.token(json!({})).await;
    idp.reset_stats().await;
    idp.fail(json!({"jwks": true})).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Stale: refetched first; the refetch fails and the cached keys are used.
    assert!(validator.validate(&token).await.is_ok());
    assert_eq!(jwks_requests_settle(&idp, 1).await, 1);
    assert!(
        validator.validate(&token).await.is_ok(),
        "failed refresh keeps the keys"
    );
    idp.fail(json!({"jwks": false})).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(validator.validate(&token).await.is_ok());
    assert_eq!(
        jwks_requests_settle(&idp, 2).await,
        2,
        "one more refetch once the cooldown after the failure has passed"
    );
    assert_eq!(oidc.jwks().expect("jwks").failure_count(), 1);
}

/// Polls until the provider has seen `expected` JWKS requests (or 5 s pass), waits a little
/// more so that an extra request would show, and returns the count.
async fn jwks_requests_settle(idp: &Idp, expected: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    while idp.jwks_requests().await < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    idp.jwks_requests().await
}

#[tokio::test]
async fn slow_or_oversized_jwks_responses_are_cut_off() {
    let idp = Idp::start();
    let cooldown = Duration::from_millis(300);
    let mut settings = idp.settings(cooldown);
    settings.http_timeout = Duration::from_secs(1);
    let oidc = Oidc::start(settings).expect("settings");
    assert!(oidc.wait_ready(Duration::from_secs(10)).await);
    let validator = oidc.validator();
    let good = idp.token(json!({})).await;
    idp.rotate().await;
    let rotated = idp.token(json!({})).await;

    idp.fail(json!({"jwks_delay_ms": 10_000})).await;
    tokio::time::sleep(cooldown).await;
    let started = Instant::now();
    assert_eq!(
        validator.validate(&rotated).await,
        Err(AuthError::IdpUnavailable)
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    idp.fail(json!({"jwks_delay_ms": 0, "jwks_huge": true}))
        .await;
    tokio::time::sleep(cooldown).await;
    assert_eq!(
        validator.validate(&rotated).await,
        Err(AuthError::IdpUnavailable)
    );
    assert!(
        validator.validate(&good).await.is_ok(),
        "last good keys kept"
    );

    idp.fail(json!({"jwks_huge": false})).await;
    tokio::time::sleep(cooldown).await;
    assert!(validator.validate(&rotated).await.is_ok());
}

#[tokio::test]
async fn a_key_published_right_after_discovery_is_accepted_on_first_use() {
    let idp = Idp::start();
    let oidc = idp.oidc(Duration::from_secs(30)).await;
    idp.rotate().await;
    idp.reset_stats().await;
    let token = idp.token(json!({})).await;
    oidc.validator()
        .validate(&token)
        .await
        .expect("discovery's key fetch does not start the unknown-kid cooldown");
    assert_eq!(idp.jwks_requests().await, 1, "one refetch for the new kid");
}

#[tokio::test]
async fn a_key_published_right_after_a_scheduled_refresh_is_accepted_on_first_use() {
    let idp = Idp::start();
    let mut settings = idp.settings(Duration::from_secs(30));
    settings.jwks_ttl = Duration::from_secs(1);
    let oidc = Oidc::start(settings).expect("settings");
    assert!(oidc.wait_ready(Duration::from_secs(10)).await);
    let validator = oidc.validator();
    let old = idp.token(json!({})).await;
    idp.reset_stats().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(validator.validate(&old).await.is_ok());
    assert_eq!(
        idp.jwks_requests().await,
        1,
        "the stale key set was refetched"
    );
    idp.rotate().await;
    let new = idp.token(json!({})).await;
    validator
        .validate(&new)
        .await
        .expect("a scheduled refresh does not start the unknown-kid cooldown");
    assert_eq!(idp.jwks_requests().await, 2);
}

#[tokio::test]
async fn during_the_cooldown_an_unknown_kid_is_retryable_unless_the_keys_are_newer_than_the_token()
{
    let idp = Idp::start();
    let oidc = idp.oidc(Duration::from_secs(30)).await;
    let validator = oidc.validator();
    let earlier = now() - 5;
    let stale_unknown = idp
        .token(json!({"kid": "never-published", "claims": {"iat": earlier}}))
        .await;
    // First miss: one refetch, and the key is still not there.
    assert_eq!(
        validator.validate(&stale_unknown).await,
        Err(AuthError::UnknownKid)
    );
    idp.rotate().await;
    idp.reset_stats().await;
    let fresh = idp.token(json!({})).await;
    // A token issued after the last fetch: its key may just have been published.
    match validator.validate(&fresh).await {
        Err(AuthError::KeysCoolingDown { retry_after_secs }) => {
            assert!((1..=30).contains(&retry_after_secs), "{retry_after_secs}");
        }
        other => panic!("expected a retryable refusal, got {other:?}"),
    }
    assert_eq!(
        AuthError::KeysCoolingDown {
            retry_after_secs: 3
        }
        .status(),
        503
    );
    // A token issued before the last fetch names a key that really is not published.
    assert_eq!(
        validator.validate(&stale_unknown).await,
        Err(AuthError::UnknownKid)
    );
    assert_eq!(
        idp.jwks_requests().await,
        0,
        "no refetch within the cooldown"
    );

    // The operator's forced refresh ignores the cooldown: the new key works at once, and the
    // removed one is refused.
    let jwks = oidc.jwks().expect("discovered");
    assert_eq!(jwks.force_refresh().await, Ok(2));
    assert!(validator.validate(&fresh).await.is_ok());
    let removed = idp.token(json!({})).await;
    assert!(validator.validate(&removed).await.is_ok());
    idp.rotate().await;
    jwks.force_refresh().await.expect("refresh");
    // Refused: 401, or 503 while the cooldown lasts when the token is as new as the key set.
    let refused = validator.validate(&removed).await;
    assert!(
        matches!(
            refused,
            Err(AuthError::UnknownKid | AuthError::KeysCoolingDown { .. })
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn the_key_sets_max_age_bounds_a_removed_key_and_its_etag_makes_refetches_cheap() {
    let idp = Idp::start();
    idp.jwks_cache(json!({"max_age": 1, "etag": true})).await;
    let oidc = idp.oidc(Duration::from_secs(30)).await;
    let validator = oidc.validator();
    // A new key: the refetch it causes reads the key set's max-age and ETag.
    idp.rotate().await;
    let token = idp.token(json!({})).await;
    assert!(validator.validate(&token).await.is_ok());
    idp.reset_stats().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Older than its max-age: revalidated before use, and unchanged (304).
    assert!(validator.validate(&token).await.is_ok());
    assert_eq!(
        (idp.jwks_requests().await, idp.jwks_not_modified().await),
        (1, 1)
    );
    // The key is removed at the IdP: once the max-age has passed it is refused, although the
    // TTL setting (an hour) and the unknown-kid cooldown have not.
    idp.rotate().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(validator.validate(&token).await, Err(AuthError::UnknownKid));
    assert_eq!(
        (idp.jwks_requests().await, idp.jwks_not_modified().await),
        (2, 1)
    );
}
