//! Forged and malformed tokens against a running test provider, built once for the validator
//! tests (oidc/rejections.rs) and the same cases over HTTP (auth.rs).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use haven_tests::idp::Idp;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::{b64, segments, with_header};

/// The casings of `alg: none` every test tries.
pub(crate) const ALG_NONE_CASINGS: [&str; 4] = ["none", "None", "NONE", "nOnE"];

/// A valid RS256 and ES256 token of one provider, and the forgeries made from them.
pub(crate) struct Forge<'a> {
    idp: &'a Idp,
    good: String,
    good_es: String,
    rsa_kid: String,
}

impl<'a> Forge<'a> {
    pub(crate) async fn new(idp: &'a Idp) -> Self {
        let good = idp.token(json!({})).await;
        let good_es = idp.token(json!({"alg": "ES256"})).await;
        let rsa_kid = idp.current_keys().await[0]["kid"]
            .as_str()
            .expect("kid")
            .to_owned();
        Self {
            idp,
            good,
            good_es,
            rsa_kid,
        }
    }

    fn payload(&self) -> String {
        segments(&self.good)[1].clone()
    }

    /// A token with the default (valid) claims merged with `claims` (`null` removes one).
    pub(crate) async fn with_claims(&self, claims: Value) -> String {
        self.idp.token(json!({"claims": claims})).await
    }

    /// The good payload under `{"alg": alg}`, with an empty signature or with the good one.
    pub(crate) fn alg_none(&self, alg: &str, keep_signature: bool) -> String {
        let header = b64(&json!({"alg": alg, "typ": "JWT"}));
        let sig = if keep_signature {
            segments(&self.good)[2].clone()
        } else {
            String::new()
        };
        format!("{header}.{}.{sig}", self.payload())
    }

    /// HS256 keyed with the published RSA key's JWK text, under the real `kid` (the classic
    /// algorithm-confusion attack).
    pub(crate) async fn hs256_with_public_key(&self) -> String {
        let public_jwk = self.idp.current_keys().await[0].to_string();
        let claims: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(self.payload())
                .expect("payload is base64url"),
        )
        .expect("payload is JSON");
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.rsa_kid.clone());
        jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(public_jwk.as_bytes()).expect("a non-empty HMAC key"),
        )
        .expect("hs256")
    }

    /// Signed by the real provider's key under a `kid` it never published, issued a few
    /// seconds ago (so a key set fetched now is newer than the token: a definite 401).
    pub(crate) async fn unknown_kid(&self) -> String {
        self.idp
            .token(json!({"kid": "no-such-key", "claims": {"iat": issued_earlier()}}))
            .await
    }

    /// Signed by the attacker's key, whose header points at that key with `param` (`jwk`,
    /// `jku` or `x5u`).
    pub(crate) async fn injected_key(&self, param: &str) -> String {
        let attacker = self.idp.attacker_keys().await;
        let pointer = match param {
            "jwk" => attacker[0].clone(),
            "jku" | "x5u" => json!(format!("{}/__control/attacker", self.idp.issuer)),
            other => panic!("no key-injection header {other}"),
        };
        let mut header = json!({"kid": "attacker-rsa"});
        header[param] = pointer;
        self.idp
            .token(json!({
                "signer": "attacker",
                "header": header,
                "claims": {"iat": issued_earlier()},
            }))
            .await
    }

    /// Signed by the attacker's key under the real `kid`, with the attacker's key embedded.
    pub(crate) async fn attacker_under_real_kid(&self) -> String {
        let attacker = self.idp.attacker_keys().await;
        self.idp
            .token(
                json!({"signer": "attacker", "kid": self.rsa_kid, "header": {"jwk": attacker[0]}}),
            )
            .await
    }

    pub(crate) fn stripped_signature(&self) -> String {
        format!("{}.{}.", segments(&self.good)[0], self.payload())
    }

    pub(crate) fn four_segments(&self) -> String {
        format!("{}.{}", self.good, segments(&self.good)[2])
    }

    pub(crate) fn es256_zero_signature(&self) -> String {
        let s = segments(&self.good_es);
        format!("{}.{}.{}", s[0], s[1], URL_SAFE_NO_PAD.encode([0u8; 64]))
    }

    fn es_header(&self) -> Value {
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(&segments(&self.good_es)[0])
                .expect("header is base64url"),
        )
        .expect("header is JSON")
    }

    /// The ES256 token relabelled with the RSA key's `kid`.
    pub(crate) fn es256_under_rsa_kid(&self) -> String {
        let mut header = self.es_header();
        header["kid"] = json!(self.rsa_kid);
        with_header(&self.good_es, header)
    }

    pub(crate) fn crit_header(&self) -> String {
        let mut header = self.es_header();
        header["crit"] = json!(["exp"]);
        with_header(&self.good_es, header)
    }

    /// A validly signed token over the 8 KiB size cap.
    pub(crate) async fn oversized(&self) -> String {
        self.with_claims(json!({"pad": "x".repeat(9000)})).await
    }
}

/// An `iat` a few seconds in the past.
fn issued_earlier() -> i64 {
    super::now() - 5
}
