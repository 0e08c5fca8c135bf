//! One snapshot of the issuer's signing keys: JWKS parsing (unusable keys skipped), lookup by
//! `kid` and algorithm compatibility, and when the snapshot was fetched and goes stale.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::Value;

use super::parsed_key::ParsedRsa;

/// Keys beyond this many in one JWKS are ignored.
const MAX_KEYS: usize = 64;

/// What kind of public key a JWK holds (decides which `alg` may use it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
}

/// One usable verification key.
pub(crate) struct CachedKey {
    pub kid: Option<String>,
    pub kind: KeyKind,
    /// The JWK's own `alg`, when it names one.
    pub alg: Option<Algorithm>,
    pub key: DecodingKey,
    /// An RSA key's parsed forms, made as tokens need them (empty for other keys).
    pub parsed: ParsedRsa,
}

impl CachedKey {
    /// Whether a token signed with `alg` may be verified with this key.
    pub fn supports(&self, alg: Algorithm) -> bool {
        if self.alg.is_some_and(|a| a != alg) {
            return false;
        }
        match (self.kind, alg.family()) {
            (KeyKind::Rsa, AlgorithmFamily::Rsa) => true,
            (KeyKind::EcP256, _) => alg == Algorithm::ES256,
            (KeyKind::EcP384, _) => alg == Algorithm::ES384,
            (KeyKind::Ed25519, AlgorithmFamily::Ed) => true,
            _ => false,
        }
    }
}

/// An immutable snapshot of the key set.
#[derive(Default, Clone)]
pub(crate) struct KeySet {
    by_kid: HashMap<String, Vec<Arc<CachedKey>>>,
    all: Vec<Arc<CachedKey>>,
    /// The usable keys as published (for openidconnect's ID-token verifier).
    jwks: Vec<Value>,
    /// When the keys were fetched (or last confirmed unchanged by a `304`).
    pub(crate) fetched_at: Option<Instant>,
    /// The same moment in Unix seconds, compared with tokens' `iat`.
    pub(crate) fetched_unix: i64,
    /// How long this snapshot may be used: the key set's `max-age`, capped by the TTL setting.
    pub(crate) fresh_for: Option<Duration>,
    /// The key set's `ETag`, sent back as `If-None-Match`.
    pub(crate) etag: Option<String>,
    /// Which install this snapshot is (1, 2, ...; 0 before the first): set by the cache when it
    /// installs the snapshot, also for a `304` that only confirms the keys.
    pub(crate) number: u64,
}

/// Result of looking a key up in one snapshot.
pub(crate) enum Lookup {
    Key(Arc<CachedKey>),
    /// The kid exists but none of its keys fits the `alg`.
    WrongType,
    /// No kid in the token and not exactly one key fits the `alg`.
    Ambiguous,
    Missing,
}

impl KeySet {
    /// Parses a JWKS body. Keys that are not public signature keys we can use (symmetric `oct`,
    /// `use: enc`, encryption `alg`, P-521, unknown `kty`) are skipped, not fatal.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Raw {
            keys: Vec<Value>,
        }
        let raw: Raw = serde_json::from_slice(body).map_err(|e| format!("not a JWKS: {e}"))?;
        Ok(Self::from_values(raw.keys))
    }

    pub(crate) fn from_values(values: Vec<Value>) -> Self {
        let mut set = KeySet::default().confirmed(None, None);
        for value in values.into_iter().take(MAX_KEYS) {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value.clone()) else {
                continue;
            };
            let Some(key) = usable_key(&jwk) else {
                continue;
            };
            set.jwks.push(value);
            let key = Arc::new(key);
            if let Some(kid) = &key.kid {
                set.by_kid
                    .entry(kid.clone())
                    .or_default()
                    .push(Arc::clone(&key));
            }
            set.all.push(key);
        }
        set
    }

    /// This snapshot stamped as fetched now, with the response's freshness and `ETag`.
    pub(crate) fn confirmed(mut self, fresh_for: Option<Duration>, etag: Option<String>) -> Self {
        self.fetched_at = Some(Instant::now());
        self.fetched_unix = time::OffsetDateTime::now_utc().unix_timestamp();
        self.fresh_for = fresh_for;
        self.etag = etag;
        self
    }

    /// Whether the snapshot is older than `ttl` (or its own shorter `max-age`).
    pub(crate) fn is_stale(&self, ttl: Duration) -> bool {
        let ttl = self.fresh_for.map_or(ttl, |f| f.min(ttl));
        self.fetched_at.is_none_or(|t| t.elapsed() >= ttl)
    }

    /// The usable keys as a JWKS document.
    pub(crate) fn jwks_document(&self) -> Value {
        serde_json::json!({ "keys": self.jwks })
    }

    pub(crate) fn len(&self) -> usize {
        self.all.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// A token with a `kid` uses only keys with that `kid`. A token without one is accepted only
    /// when exactly one key in the set fits its `alg` (single-key issuers that omit `kid`);
    /// with several candidates we refuse rather than try each (no signature oracle, no
    /// confusion between keys).
    pub(crate) fn find(&self, kid: Option<&str>, alg: Algorithm) -> Lookup {
        match kid {
            Some(kid) => match self.by_kid.get(kid) {
                None => Lookup::Missing,
                Some(keys) => keys
                    .iter()
                    .find(|k| k.supports(alg))
                    .map_or(Lookup::WrongType, |k| Lookup::Key(Arc::clone(k))),
            },
            None => {
                let mut fitting = self.all.iter().filter(|k| k.supports(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(k), None) => Lookup::Key(Arc::clone(k)),
                    _ => Lookup::Ambiguous,
                }
            }
        }
    }
}

fn usable_key(jwk: &Jwk) -> Option<CachedKey> {
    let common = &jwk.common;
    if matches!(
        common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    if let Some(ops) = &common.key_operations
        && !ops.iter().any(|op| matches!(op, KeyOperations::Verify))
    {
        return None;
    }
    let alg = match &common.key_algorithm {
        None => None,
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::RS384) => Some(Algorithm::RS384),
        Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
        Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
        Some(KeyAlgorithm::PS384) => Some(Algorithm::PS384),
        Some(KeyAlgorithm::PS512) => Some(Algorithm::PS512),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::ES384) => Some(Algorithm::ES384),
        Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
        // HMAC, encryption algorithms, anything unknown: not a public signature key for us.
        Some(_) => return None,
    };
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => KeyKind::Rsa,
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => KeyKind::EcP256,
            EllipticCurve::P384 => KeyKind::EcP384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            KeyKind::Ed25519
        }
        _ => return None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(CachedKey {
        kid: common.key_id.clone(),
        kind,
        alg,
        key,
        parsed: ParsedRsa::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // A real 2048-bit RSA modulus is not needed for parsing; DecodingKey keeps components.
    fn rsa(kid: &str) -> Value {
        json!({"kty":"RSA","kid":kid,"n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"})
    }

    #[test]
    fn unusable_keys_are_skipped_not_fatal() {
        let body = json!({"keys":[
            rsa("r1"),
            {"kty":"oct","kid":"h1","k":"c2VjcmV0"},
            {"kty":"RSA","kid":"e1","use":"enc","n":"AQAB","e":"AQAB"},
            {"kty":"EC","kid":"p521","crv":"P-521","x":"AQ","y":"AQ"},
            {"kty":"weird","kid":"w"},
            "not an object"
        ]});
        let set = KeySet::parse(body.to_string().as_bytes()).expect("parse");
        assert_eq!(set.len(), 1);
        assert!(matches!(
            set.find(Some("r1"), Algorithm::RS256),
            Lookup::Key(_)
        ));
        assert!(matches!(
            set.find(Some("h1"), Algorithm::RS256),
            Lookup::Missing
        ));
        assert!(matches!(
            set.find(Some("r1"), Algorithm::ES256),
            Lookup::WrongType
        ));
    }

    #[test]
    fn missing_kid_needs_exactly_one_fitting_key() {
        let one = KeySet::from_values(vec![rsa("a")]);
        assert!(matches!(one.find(None, Algorithm::RS256), Lookup::Key(_)));
        assert!(matches!(
            one.find(None, Algorithm::ES256),
            Lookup::Ambiguous
        ));
        let two = KeySet::from_values(vec![rsa("a"), rsa("b")]);
        assert!(matches!(
            two.find(None, Algorithm::RS256),
            Lookup::Ambiguous
        ));
    }

    #[test]
    fn jwk_alg_pins_the_algorithm() {
        let mut key = rsa("a");
        key["alg"] = json!("RS256");
        let set = KeySet::from_values(vec![key]);
        assert!(matches!(
            set.find(Some("a"), Algorithm::RS256),
            Lookup::Key(_)
        ));
        assert!(matches!(
            set.find(Some("a"), Algorithm::PS256),
            Lookup::WrongType
        ));
    }

    #[test]
    fn a_body_that_is_not_a_jwks_is_an_error() {
        assert!(KeySet::parse(b"<html>").is_err());
        assert!(KeySet::parse(b"{}").is_err());
    }
}
