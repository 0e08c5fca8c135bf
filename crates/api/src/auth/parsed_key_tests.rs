use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self as aws_sig, KeyPair as _, RsaEncoding};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::crypto::{CryptoProvider, aws_lc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::json;

use super::super::error::AuthError;
use super::super::jws;
use super::super::keyset::{CachedKey, KeyKind};
use super::{PROVIDER, ParsedRsa, RSA, install};

/// The signing side of each RSA algorithm, in [`RSA`]'s order.
const SIGNING: [&dyn RsaEncoding; 6] = [
    &aws_sig::RSA_PKCS1_SHA256,
    &aws_sig::RSA_PKCS1_SHA384,
    &aws_sig::RSA_PKCS1_SHA512,
    &aws_sig::RSA_PSS_SHA256,
    &aws_sig::RSA_PSS_SHA384,
    &aws_sig::RSA_PSS_SHA512,
];

fn cached(key: DecodingKey) -> Arc<CachedKey> {
    Arc::new(CachedKey {
        kid: Some("k".to_owned()),
        kind: KeyKind::Rsa,
        alg: None,
        key,
        parsed: ParsedRsa::default(),
    })
}

fn key_pair() -> KeyPair {
    KeyPair::generate(KeySize::Rsa2048).expect("an RSA-2048 key pair")
}

/// A compact token's signed bytes and its signature segment.
fn split_signature(token: &str) -> (&str, &str) {
    token.rsplit_once('.').expect("a compact token")
}

fn decoding_key(pair: &KeyPair) -> DecodingKey {
    let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    DecodingKey::from_rsa_raw_components(&public.n, &public.e)
}

/// `message` signed by `pair` with `encoding`, base64url.
fn sign(pair: &KeyPair, encoding: &'static dyn RsaEncoding, message: &str) -> String {
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(
        encoding,
        &SystemRandom::new(),
        message.as_bytes(),
        &mut signature,
    )
    .expect("signed");
    URL_SAFE_NO_PAD.encode(signature)
}

/// A compact token over `payload` signed by `pair` with the `index`th RSA algorithm.
fn token(pair: &KeyPair, index: usize, payload: &serde_json::Value) -> String {
    let alg = format!("{:?}", RSA[index].0);
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
    let message = format!("{header}.{payload}");
    let signature = sign(pair, SIGNING[index], &message);
    format!("{message}.{signature}")
}

fn claims() -> serde_json::Value {
    json!({"sub": "u", "exp": 4_000_000_000_u64})
}

fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.validate_aud = false;
    v
}

fn verify(token: &str, key: &Arc<CachedKey>, alg: Algorithm) -> Result<(), AuthError> {
    let compact = jws::split_compact(token, 16 * 1024)?;
    jws::verify(token, compact, key, &validation(alg)).map(|_| ())
}

/// What aws-lc's own provider (jsonwebtoken's default) says of the same signature.
fn aws_lc_says(token: &str, key: &DecodingKey, alg: Algorithm) -> bool {
    let (message, signature) = split_signature(token);
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
    (aws_lc::DEFAULT_PROVIDER.verifier_factory)(&alg, key)
        .expect("aws-lc has a verifier for every RSA algorithm")
        .verify(message.as_bytes(), &signature)
        .is_ok()
}

#[test]
fn the_provider_is_installed_once_and_is_haven_s() {
    install();
    install();
    let installed = CryptoProvider::try_get_default().expect("a provider");
    assert!(std::ptr::eq(installed, &*PROVIDER));
}

#[test]
fn every_rsa_algorithm_verifies_with_the_parsed_key_and_answers_as_aws_lc_does() {
    let pair = key_pair();
    let key = cached(decoding_key(&pair));
    for (index, (alg, _)) in RSA.iter().enumerate() {
        let good = token(&pair, index, &claims());
        assert!(!key.parsed.is_parsed(*alg), "{alg:?} parsed before use");
        assert_eq!(verify(&good, &key, *alg), Ok(()), "{alg:?}");
        assert!(
            key.parsed.is_parsed(*alg),
            "{alg:?} not checked with the parsed key"
        );
        assert!(aws_lc_says(&good, &key.key, *alg), "{alg:?}");

        // The signature over other claims, and a signature cut short: refused, as aws-lc does.
        let other = token(&pair, index, &json!({"sub": "v", "exp": 4_000_000_000_u64}));
        let (message, _) = split_signature(&good);
        let (_, other_signature) = split_signature(&other);
        let swapped = format!("{message}.{other_signature}");
        let mut cut = URL_SAFE_NO_PAD.decode(other_signature).expect("base64url");
        cut.truncate(cut.len() - 1);
        let short = format!("{message}.{}", URL_SAFE_NO_PAD.encode(cut));
        for bad in [&swapped, &short] {
            assert_eq!(
                verify(bad, &key, *alg),
                Err(AuthError::BadSignature),
                "{alg:?}"
            );
            assert!(!aws_lc_says(bad, &key.key, *alg), "{alg:?}");
        }
        // The same bytes signed with the other padding (PKCS#1 v1.5 for PSS and the reverse)
        // or another digest: refused.
        for other_index in [(index + 3) % RSA.len(), (index + 1) % RSA.len()] {
            let crossed = format!("{message}.{}", sign(&pair, SIGNING[other_index], message));
            assert_eq!(
                verify(&crossed, &key, *alg),
                Err(AuthError::BadSignature),
                "{alg:?}"
            );
            assert!(!aws_lc_says(&crossed, &key.key, *alg), "{alg:?}");
        }
    }
}

#[test]
fn a_parsed_key_checks_only_the_decoding_key_it_belongs_to() {
    let mine = key_pair();
    let theirs = key_pair();
    let named = cached(decoding_key(&mine));
    let other = decoding_key(&theirs);
    let alg = Algorithm::RS256;
    // `named` is named to the provider, jsonwebtoken is given another key.
    let check = |token: &str| {
        super::with_key(&named, || {
            jsonwebtoken::decode::<serde_json::Value>(token, &other, &validation(alg))
        })
    };
    assert!(check(&token(&theirs, 0, &claims())).is_ok());
    assert!(check(&token(&mine, 0, &claims())).is_err());
    assert!(!named.parsed.is_parsed(alg));
}

#[test]
fn keys_outside_what_aws_lc_verifies_with_are_refused_as_before() {
    let pair = key_pair();
    let good = token(&pair, 0, &claims());
    let alg = Algorithm::RS256;
    let components: [(&[u8], &[u8]); 3] = [
        // 24 bits: parsed, then refused by the 2048-8192 bit range at verification.
        (&[0xc3, 0x5a, 0x11], &[1, 0, 1]),
        // Nothing, and an even exponent: not RSA keys at all.
        (&[], &[]),
        (&[0xc3, 0x5a, 0x11], &[2]),
    ];
    for (n, e) in components {
        let key = cached(DecodingKey::from_rsa_raw_components(n, e));
        assert_eq!(
            verify(&good, &key, alg),
            Err(AuthError::BadSignature),
            "{n:?} {e:?}"
        );
        assert!(!aws_lc_says(&good, &key.key, alg), "{n:?} {e:?}");
    }
    let empty = ParsedRsa::default();
    assert!(
        empty
            .get(alg, &DecodingKey::from_rsa_raw_components(&[], &[]))
            .is_none()
    );
}

#[test]
fn algorithms_outside_the_rsa_family_have_no_parsed_form() {
    let key = decoding_key(&key_pair());
    let parsed = ParsedRsa::default();
    for alg in [
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::HS256,
    ] {
        assert!(parsed.get(alg, &key).is_none(), "{alg:?}");
    }
    assert!(parsed.get(Algorithm::RS256, &key).is_some());
}
