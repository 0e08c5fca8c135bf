//! Token validation with a cached key, every token checked in full (`JWT_ACCEPTED_TOKEN_CACHE_SIZE`
//! 0), next to the bare RSA-2048 signature check it contains, with the key parsed for each check
//! (as jsonwebtoken's own verifier does) and once (as Haven keeps it); and a token seen before,
//! as deployed (answered from the accepted tokens).
//!
//! Run: `cargo bench -p haven-tests --bench token_validation` (starts the test OIDC provider on
//! loopback once, for its keys and a token; nothing is fetched while measuring).

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use haven_api::auth::{AuthSettings, Oidc};
use haven_tests::idp::{CLIENT_ID, Idp};
use serde_json::json;

fn validation(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let idp = Idp::start();
    let (oidc, remembering, token, rsa_key) = runtime.block_on(async {
        // Every token checked in full, as the bare verification below is...
        let full = AuthSettings {
            accepted_tokens: 0,
            ..AuthSettings::new(idp.issuer.clone(), CLIENT_ID)
        };
        let oidc = Oidc::start(full).expect("settings");
        assert!(oidc.wait_ready(Duration::from_secs(10)).await, "discovery");
        // ...and as deployed: a token accepted before is answered from the replica's memory.
        let remembering =
            Oidc::start(AuthSettings::new(idp.issuer.clone(), CLIENT_ID)).expect("settings");
        assert!(
            remembering.wait_ready(Duration::from_secs(10)).await,
            "discovery"
        );
        let token = idp
            .token(json!({"alg": "RS256", "claims": {"sub": "bench-user"}}))
            .await;
        let kid = serde_json::from_slice::<serde_json::Value>(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().expect("header"))
                .expect("base64"),
        )
        .expect("header json")["kid"]
            .as_str()
            .expect("kid")
            .to_owned();
        let jwk = idp
            .current_keys()
            .await
            .into_iter()
            .find(|k| k["kid"] == kid.as_str())
            .expect("the token's key");
        let n = URL_SAFE_NO_PAD
            .decode(jwk["n"].as_str().expect("n"))
            .expect("n");
        let e = URL_SAFE_NO_PAD
            .decode(jwk["e"].as_str().expect("e"))
            .expect("e");
        (oidc, remembering, token, (n, e))
    });
    let validator = oidc.validator();
    let seen = remembering.validator();
    // One call first: the key is cached from here on (and the token remembered by `seen`).
    runtime
        .block_on(validator.validate(&token))
        .expect("a valid token");
    runtime
        .block_on(seen.validate(&token))
        .expect("a valid token");

    let (signed, signature) = token.rsplit_once('.').expect("three segments");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("signature");
    let public_key = RsaPublicKeyComponents {
        n: rsa_key.0.as_slice(),
        e: rsa_key.1.as_slice(),
    };

    // The same key parsed once, as Haven keeps it (`auth/parsed_key.rs`).
    let parsed = ParsedPublicKey::new(
        &RSA_PKCS1_2048_8192_SHA256,
        public_key.as_der().expect("an RSA key").as_ref(),
    )
    .expect("parses");

    let mut group = c.benchmark_group("token_validation");
    group.bench_function("rsa2048_verify_only", |b| {
        b.iter(|| {
            public_key
                .verify(
                    &RSA_PKCS1_2048_8192_SHA256,
                    black_box(signed.as_bytes()),
                    black_box(&signature),
                )
                .expect("verifies")
        })
    });
    group.bench_function("rsa2048_verify_parsed_key", |b| {
        b.iter(|| {
            parsed
                .verify_sig(black_box(signed.as_bytes()), black_box(&signature))
                .expect("verifies")
        })
    });
    group.bench_function("validate_with_cached_key", |b| {
        b.to_async(&runtime)
            .iter(|| async { validator.validate(black_box(&token)).await.expect("valid") })
    });
    group.bench_function("validate_seen_before", |b| {
        b.to_async(&runtime)
            .iter(|| async { seen.validate(black_box(&token)).await.expect("valid") })
    });
    group.finish();
    assert_eq!(validator.repeats(), 0, "every token checked in full");
    assert!(seen.repeats() > 0, "the token answered from memory");
    drop(idp);
}

criterion_group!(benches, validation);
criterion_main!(benches);
