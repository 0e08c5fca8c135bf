//! The JWS layer shared by access and ID tokens: compact-form checks, header rules, strict JSON,
//! and the signature check through jsonwebtoken with its errors mapped to [`AuthError`].

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily, Validation};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::error::AuthError;
use super::keyset::CachedKey;
use super::parsed_key;

/// Longest `kid` accepted (it is only a lookup key).
const MAX_KID_LEN: usize = 256;

/// The three segments of a compact JWS, still base64url.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Compact<'a> {
    pub header: &'a str,
    pub payload: &'a str,
}

/// Checks size and shape before anything is decoded: at most `max_bytes`, only base64url
/// characters and dots, exactly three segments, none empty (an empty signature is a stripped
/// or `alg: none` token). Four or five segments (JWS JSON tricks, JWE) are malformed.
pub(crate) fn split_compact(token: &str, max_bytes: usize) -> Result<Compact<'_>, AuthError> {
    if token.len() > max_bytes {
        return Err(AuthError::TooLarge);
    }
    // Every byte checked without stopping early, which the compiler can vectorize (about
    // 12,000 instructions a token byte by byte); the length is already capped above.
    let allowed = |b: u8| b.is_ascii_alphanumeric() | (b == b'-') | (b == b'_') | (b == b'.');
    if !token.bytes().fold(true, |all, b| all & allowed(b)) {
        return Err(AuthError::Malformed);
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() && !s.is_empty() => {
            // A base64 length of 1 mod 4 can never be valid.
            if [h, p, s].iter().any(|seg| seg.len() % 4 == 1) {
                return Err(AuthError::Malformed);
            }
            Ok(Compact {
                header: h,
                payload: p,
            })
        }
        _ => Err(AuthError::Malformed),
    }
}

/// Which `typ` header values a token kind accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypRule {
    /// Access tokens: absent, `at+jwt`, `application/at+jwt` or `JWT` (case-insensitive).
    Access,
    /// ID tokens: absent or `JWT` (an `at+jwt` token is never an ID token).
    IdToken,
}

/// The header fields we act on. `jku`, `x5u`, `jwk` and `x5c` are deliberately ignored:
/// keys come only from the issuer's JWKS, looked up by `kid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JoseHeader {
    pub alg: Algorithm,
    pub kid: Option<String>,
    /// `typ` was `at+jwt` / `application/at+jwt` (RFC 9068 explicit typing).
    pub typed_access_token: bool,
}

/// Decodes and checks the header: strict JSON object, `alg` allowed, no `crit`, `typ` per rule,
/// `kid` a short string when present.
pub(crate) fn parse_header(
    segment: &str,
    allowed: &[Algorithm],
    rule: TypRule,
) -> Result<JoseHeader, AuthError> {
    let header = decode_object(segment)?;
    let alg = match header.get("alg") {
        Some(Value::String(name)) => check_alg(name, allowed)?,
        _ => return Err(AuthError::BadAlgorithm),
    };
    // jsonwebtoken 12 rejects unknown `crit` too, but accepts `b64`; we understand no extension
    // at all, and checking first gives the refusal its own reason in the logs.
    if header.contains_key("crit") {
        return Err(AuthError::CritHeader);
    }
    let typed_access_token = check_typ(header.get("typ"), rule)?;
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => {
            Some(kid.clone())
        }
        Some(_) => return Err(AuthError::Malformed),
    };
    Ok(JoseHeader {
        alg,
        kid,
        typed_access_token,
    })
}

/// `none` (any casing) and HMAC are refused whatever the allowlist says; the name must be an
/// exact JOSE algorithm name that is in the allowlist.
pub(crate) fn check_alg(name: &str, allowed: &[Algorithm]) -> Result<Algorithm, AuthError> {
    if name.eq_ignore_ascii_case("none")
        || name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("hs"))
    {
        return Err(AuthError::BadAlgorithm);
    }
    let alg = Algorithm::from_str(name).map_err(|_| AuthError::BadAlgorithm)?;
    if alg.family() == AlgorithmFamily::Hmac || !allowed.contains(&alg) {
        return Err(AuthError::BadAlgorithm);
    }
    Ok(alg)
}

/// Returns whether the token is explicitly typed as an access token.
pub(crate) fn check_typ(typ: Option<&Value>, rule: TypRule) -> Result<bool, AuthError> {
    let Some(typ) = typ else { return Ok(false) };
    let Value::String(typ) = typ else {
        return Err(AuthError::BadTyp);
    };
    let at_jwt =
        typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt");
    match rule {
        TypRule::Access if at_jwt => Ok(true),
        TypRule::Access | TypRule::IdToken if typ.eq_ignore_ascii_case("jwt") => Ok(false),
        _ => Err(AuthError::BadTyp),
    }
}

/// base64url-decodes a segment into a JSON object that has no duplicate member names.
pub(crate) fn decode_object(segment: &str) -> Result<Map<String, Value>, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::Malformed)?;
    serde_json::from_slice::<StrictObject>(&bytes)
        .map(|o| o.0)
        .map_err(|_| AuthError::Malformed)
}

/// The payload's `iat`, read without verifying anything: only for choosing between "unknown
/// key" and "retry later" when a token names a key that is not cached.
pub(crate) fn unverified_iat(compact: Compact<'_>) -> Option<i64> {
    decode_object(compact.payload).ok()?.get("iat")?.as_i64()
}

/// A JSON object whose top-level member names are unique. Two parsers reading a token with a
/// duplicated `exp` or tenant claim could otherwise disagree about its value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StrictObject(pub Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrictVisitor;
        impl<'de> Visitor<'de> for StrictVisitor {
            type Value = StrictObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with unique member names")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
                let mut map = Map::new();
                while let Some(key) = access.next_key::<String>()? {
                    if map.contains_key(&key) {
                        return Err(de::Error::custom("duplicate member name"));
                    }
                    let value: Value = access.next_value()?;
                    map.insert(key, value);
                }
                Ok(StrictObject(map))
            }
        }
        deserializer.deserialize_map(StrictVisitor)
    }
}

/// Verifies the signature and the registered claims jsonwebtoken knows (`exp`, `nbf`, `iss`,
/// `aud`, presence of `sub`), returning the payload as a strict JSON object. An RSA signature is
/// checked with the key's parsed form (`parsed_key`).
pub(crate) fn verify(
    token: &str,
    compact: Compact<'_>,
    key: &Arc<CachedKey>,
    validation: &Validation,
) -> Result<Map<String, Value>, AuthError> {
    let decoded = parsed_key::with_key(key, || {
        jsonwebtoken::decode::<StrictObject>(token, &key.key, validation)
    });
    match decoded {
        Ok(data) => Ok(data.claims.0),
        Err(e) => Err(map_jwt_error(e.kind(), compact)),
    }
}

/// Maps jsonwebtoken's error. jsonwebtoken reports a claim of the wrong type (e.g. `exp` as a
/// string) as "missing"; it only validates claims after the signature verified, so looking at
/// the payload to tell the two apart only refines the reason (both are AUTH_001).
fn map_jwt_error(kind: &ErrorKind, compact: Compact<'_>) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidKeyFormat => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::BadIssuer,
        ErrorKind::InvalidAudience => AuthError::BadAudience,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName => AuthError::BadAlgorithm,
        ErrorKind::InvalidClaimFormat(claim) => AuthError::WrongType(claim_name(claim)),
        ErrorKind::MissingRequiredClaim(claim) => {
            let present = decode_object(compact.payload)
                .map(|p| p.get(claim.as_str()).is_some_and(|v| !v.is_null()))
                .unwrap_or(false);
            if present {
                AuthError::WrongType(claim_name(claim))
            } else {
                AuthError::MissingClaim(claim_name(claim))
            }
        }
        _ => AuthError::Malformed,
    }
}

fn claim_name(claim: &str) -> &'static str {
    match claim {
        "exp" => "exp",
        "nbf" => "nbf",
        "iat" => "iat",
        "iss" => "iss",
        "aud" => "aud",
        "sub" => "sub",
        _ => "claim",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: &[Algorithm] = &[Algorithm::RS256, Algorithm::ES256];

    fn seg(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn compact_form_needs_exactly_three_non_empty_segments() {
        assert!(split_compact("aaaa.bbbb.cccc", 100).is_ok());
        for bad in [
            "",
            "aaaa",
            "aaaa.bbbb",
            "aaaa.bbbb.",
            ".bbbb.cccc",
            "aaaa..cccc",
            "aaaa.bbbb.cccc.dddd",
            "aaaa.bbbb.cccc.dddd.eeee",
            "aa=a.bbbb.cccc",
            "aaaa.bb bb.cccc",
            "aaaa.bbbbb.cccc",
        ] {
            assert_eq!(
                split_compact(bad, 100),
                Err(AuthError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            split_compact("aaaa.bbbb.cccc", 13),
            Err(AuthError::TooLarge)
        );
    }

    #[test]
    fn none_and_hmac_are_refused_in_any_casing_even_if_allowed() {
        let all = [Algorithm::RS256, Algorithm::HS256];
        for name in [
            "none", "None", "NONE", "nOnE", "HS256", "hs256", "Hs384", "HS512",
        ] {
            assert_eq!(
                check_alg(name, &all),
                Err(AuthError::BadAlgorithm),
                "{name}"
            );
        }
        assert_eq!(check_alg("RS256", ALLOWED), Ok(Algorithm::RS256));
        assert_eq!(check_alg("rs256", ALLOWED), Err(AuthError::BadAlgorithm));
        assert_eq!(check_alg("PS256", ALLOWED), Err(AuthError::BadAlgorithm));
        assert_eq!(check_alg("", ALLOWED), Err(AuthError::BadAlgorithm));
    }

    #[test]
    fn header_rules_for_typ_crit_and_kid() {
        let parse = |json: &str, rule| parse_header(&seg(json), ALLOWED, rule);
        let ok = parse(r#"{"alg":"RS256","kid":"k1"}"#, TypRule::Access);
        assert_eq!(
            ok.map(|h| (h.alg, h.kid)),
            Ok((Algorithm::RS256, Some("k1".into())))
        );
        for typ in ["at+jwt", "AT+JWT", "application/at+jwt", "JWT", "jwt"] {
            let h = parse(
                &format!(r#"{{"alg":"ES256","typ":"{typ}"}}"#),
                TypRule::Access,
            );
            assert!(h.is_ok(), "{typ}");
        }
        // Okta's org authorization server types its tokens (meant for Okta alone) so; its
        // custom authorization servers send no `typ` (docs/AUTH_CONFIGURATION.md).
        for typ in [
            r#""JOSE""#,
            r#""id_token+jwt""#,
            r#""application/okta-internal-at+jwt""#,
            r#""""#,
            "1",
            "null",
        ] {
            let h = parse(
                &format!(r#"{{"alg":"ES256","typ":{typ}}}"#),
                TypRule::Access,
            );
            assert_eq!(h, Err(AuthError::BadTyp), "{typ}");
        }
        assert_eq!(
            parse(r#"{"alg":"RS256","typ":"at+jwt"}"#, TypRule::IdToken),
            Err(AuthError::BadTyp)
        );
        assert_eq!(
            parse(r#"{"alg":"RS256","crit":["exp"],"exp":1}"#, TypRule::Access),
            Err(AuthError::CritHeader)
        );
        assert_eq!(
            parse(r#"{"alg":"RS256","crit":[]}"#, TypRule::Access),
            Err(AuthError::CritHeader)
        );
        assert_eq!(
            parse(r#"{"alg":"RS256","kid":7}"#, TypRule::Access),
            Err(AuthError::Malformed)
        );
        assert_eq!(
            parse(r#"{"kid":"k"}"#, TypRule::Access),
            Err(AuthError::BadAlgorithm)
        );
        assert_eq!(
            parse(r#"{"alg":null}"#, TypRule::Access),
            Err(AuthError::BadAlgorithm)
        );
        assert_eq!(
            parse(r#"["RS256"]"#, TypRule::Access),
            Err(AuthError::Malformed)
        );
        // Embedded keys are ignored, not trusted: the header is accepted, its key unused.
        let h = parse(
            r#"{"alg":"RS256","kid":"k","jku":"https://evil","x5u":"https://evil","jwk":{}}"#,
            TypRule::Access,
        );
        assert!(h.is_ok());
    }

    #[test]
    fn duplicate_member_names_are_malformed() {
        assert_eq!(
            decode_object(&seg(r#"{"alg":"RS256","alg":"none"}"#)),
            Err(AuthError::Malformed)
        );
        assert_eq!(decode_object("!!!"), Err(AuthError::Malformed));
        assert!(decode_object(&seg(r#"{"a":{"b":1}}"#)).is_ok());
    }
}
