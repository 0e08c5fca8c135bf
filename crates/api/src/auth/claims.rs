//! Claim rules jsonwebtoken does not enforce: `iat`, lifetime cap, claim types, exact `iss`,
//! Cognito audience, "this is not an ID token", tenant and roles.

use serde_json::{Map, Value};

use super::error::AuthError;
use super::settings::{AudienceMode, AuthSettings};

/// Longest tenant external id accepted.
pub const MAX_TENANT_ID_LEN: usize = 128;
/// Longest `sub` accepted.
const MAX_SUBJECT_LEN: usize = 255;

/// Time claims of an access token that passed every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Times {
    pub iat: i64,
    pub exp: i64,
}

/// A NumericDate claim: absent, or a non-negative JSON number (fractions are truncated, as
/// RFC 7519 allows them). Strings, booleans, negative or non-finite values are `WrongType`.
pub(crate) fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(v) = n.as_u64() {
                i64::try_from(v)
                    .map(Some)
                    .map_err(|_| AuthError::WrongType(name))
            } else {
                match n.as_f64() {
                    // 2^53: beyond this a float is not an exact second and not a real date.
                    Some(f) if f.is_finite() && (0.0..9.007_199_254_740_992e15).contains(&f) => {
                        // Truncation is intended: fractional seconds carry no meaning here.
                        #[allow(clippy::cast_possible_truncation)]
                        Ok(Some(f.trunc() as i64))
                    }
                    _ => Err(AuthError::WrongType(name)),
                }
            }
        }
        Some(_) => Err(AuthError::WrongType(name)),
    }
}

/// Rules shared by access and ID tokens, run after the signature and jsonwebtoken's checks:
/// `exp`/`nbf`/`iat` numeric, `iat` present and not in the future beyond the leeway, `iss` a
/// string equal to the issuer (jsonwebtoken also accepts an array), `sub` a non-empty string.
/// `iat` and `exp` as date-times.
pub(crate) fn datetimes(
    times: Times,
) -> Result<(time::OffsetDateTime, time::OffsetDateTime), AuthError> {
    let at = |t: i64, claim| {
        time::OffsetDateTime::from_unix_timestamp(t).map_err(|_| AuthError::WrongType(claim))
    };
    Ok((at(times.iat, "iat")?, at(times.exp, "exp")?))
}

pub(crate) fn check_common(
    claims: &Map<String, Value>,
    settings: &AuthSettings,
    now: i64,
) -> Result<Times, AuthError> {
    let leeway = i64::try_from(settings.leeway.as_secs()).unwrap_or(i64::MAX);
    let exp = numeric_date(claims, "exp")?.ok_or(AuthError::MissingClaim("exp"))?;
    numeric_date(claims, "nbf")?;
    let iat = numeric_date(claims, "iat")?.ok_or(AuthError::MissingClaim("iat"))?;
    if iat > now.saturating_add(leeway) {
        return Err(AuthError::IatInFuture);
    }
    match claims.get("iss") {
        Some(Value::String(iss)) if *iss == settings.issuer_url => {}
        Some(Value::String(_)) => return Err(AuthError::BadIssuer),
        None => return Err(AuthError::MissingClaim("iss")),
        Some(_) => return Err(AuthError::WrongType("iss")),
    }
    subject(claims)?;
    Ok(Times { iat, exp })
}

/// `sub`: a non-empty string of at most 255 bytes without control characters.
pub(crate) fn subject(claims: &Map<String, Value>) -> Result<String, AuthError> {
    match claims.get("sub") {
        None | Some(Value::Null) => Err(AuthError::MissingClaim("sub")),
        Some(Value::String(s))
            if !s.trim().is_empty()
                && s.len() <= MAX_SUBJECT_LEN
                && !s.chars().any(char::is_control) =>
        {
            Ok(s.clone())
        }
        Some(_) => Err(AuthError::WrongType("sub")),
    }
}

/// Access-token-only rules: lifetime cap, audience mode, and never an ID token.
///
/// Telling an ID token from an access token when the audience is the client id (the default),
/// where `aud` cannot tell them apart:
/// * `token_use` present and not `access` (Cognito ID tokens say `id`) → `NotAccessToken`,
///   whatever the header says; `CognitoClientId` mode requires `token_use == "access"`.
/// * Unless the header is explicitly `typ: at+jwt` (RFC 9068; an OP never types an ID token so),
///   a payload with any ID-token-only claim — `nonce`, `at_hash`, `c_hash` — or a payload `typ`
///   of `ID` (Keycloak) → `NotAccessToken`. Access tokens of mainstream IdPs (Auth0, Okta,
///   Entra ID, Cognito, Keycloak ≥ 12) carry none of these; an IdP that puts `nonce` in access
///   tokens must type them `at+jwt`.
/// * With an audience distinct from the client id, the `aud` check already excludes ID tokens.
pub(crate) fn check_access_token(
    claims: &Map<String, Value>,
    settings: &AuthSettings,
    times: Times,
    typed_access_token: bool,
) -> Result<(), AuthError> {
    let max = i64::try_from(settings.max_lifetime.as_secs()).unwrap_or(i64::MAX);
    if times.exp.saturating_sub(times.iat) > max {
        return Err(AuthError::LifetimeTooLong);
    }
    match claims.get("token_use") {
        None => {}
        Some(Value::String(u)) if u == "access" => {}
        Some(_) => return Err(AuthError::NotAccessToken),
    }
    if !typed_access_token {
        let id_marker = ["nonce", "at_hash", "c_hash"]
            .iter()
            .any(|c| claims.contains_key(*c))
            || matches!(claims.get("typ"), Some(Value::String(t)) if t.eq_ignore_ascii_case("id"));
        if id_marker {
            return Err(AuthError::NotAccessToken);
        }
    }
    if settings.audience_mode == AudienceMode::CognitoClientId {
        match claims.get("token_use") {
            Some(Value::String(u)) if u == "access" => {}
            _ => return Err(AuthError::NotAccessToken),
        }
        match claims.get("client_id") {
            Some(Value::String(c)) if *c == settings.audience => {}
            None => return Err(AuthError::MissingClaim("client_id")),
            Some(_) => return Err(AuthError::BadAudience),
        }
    }
    Ok(())
}

/// The tenant's external id. Absent or `null` → `TenantClaimMissing`. Anything but a string of
/// 1–128 characters from `A-Z a-z 0-9 . _ : @ / -` → `TenantClaimMalformed`.
///
/// That set covers the ids IdPs use (`org-456`, `org_abc`, UUIDs, `tenant:acme`, e-mail-like
/// and path-like ids) and excludes whitespace, control characters, quotes, `%`, `\` and
/// non-ASCII look-alikes, so the value is safe to log, to compare byte-wise and to use as a key.
pub fn tenant_from_claims(claims: &Map<String, Value>, claim: &str) -> Result<String, AuthError> {
    match claims.get(claim) {
        None | Some(Value::Null) => Err(AuthError::TenantClaimMissing),
        Some(Value::String(s)) if is_valid_tenant_id(s) => Ok(s.clone()),
        Some(_) => Err(AuthError::TenantClaimMalformed),
    }
}

/// See [`tenant_from_claims`].
pub fn is_valid_tenant_id(s: &str) -> bool {
    (1..=MAX_TENANT_ID_LEN).contains(&s.len())
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'@' | b'/' | b'-')
        })
}

/// Roles: an array of strings, or one space-separated string (OAuth `scope` style). Absent or
/// `null` → none. Any other type, or a non-string array item → `WrongType("roles")`. Empty
/// entries are dropped, duplicates removed, order kept. Unknown names are carried as they are:
/// the application maps the names it knows.
pub fn roles_from_claims(
    claims: &Map<String, Value>,
    claim: &str,
) -> Result<Vec<String>, AuthError> {
    let mut roles: Vec<String> = Vec::new();
    let mut push = |r: &str| {
        let r = r.trim();
        if !r.is_empty() && !roles.iter().any(|x| x == r) {
            roles.push(r.to_owned());
        }
    };
    match claims.get(claim) {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => s.split_whitespace().for_each(&mut push),
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::String(s) => push(s),
                    _ => return Err(AuthError::WrongType("roles")),
                }
            }
        }
        Some(_) => return Err(AuthError::WrongType("roles")),
    }
    Ok(roles)
}

#[cfg(test)]
#[path = "claims_tests.rs"]
mod tests;
