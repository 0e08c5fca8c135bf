//! Bearer access-token validation: cheapest checks first, then the signature, then claims.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Validation};
use time::OffsetDateTime;

use super::claims;
use super::error::AuthError;
use super::jws::{self, TypRule};
use super::ready::ReadySlot;
use super::settings::{AudienceMode, AuthSettings};

/// What a valid access token says about its bearer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    /// `sub`: the user at the identity provider.
    pub subject: String,
    /// The tenant claim's value: the tenant's external id (maps to a row in `tenants`).
    pub tenant_external_id: String,
    /// Role names from the roles claim, as given (deduplicated).
    pub roles: Vec<String>,
    /// `exp`.
    pub expires_at: OffsetDateTime,
    /// `iat`.
    pub issued_at: OffsetDateTime,
}

/// Validates bearer access tokens against the issuer's keys. Cheap to clone.
#[derive(Clone)]
pub struct TokenValidator {
    settings: Arc<AuthSettings>,
    ready: Arc<ReadySlot>,
}

impl std::fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenValidator")
            .field("issuer", &self.settings.issuer_url)
            .finish_non_exhaustive()
    }
}

impl TokenValidator {
    /// A validator with these settings, using the discovery result once it is there.
    pub(crate) fn new(settings: Arc<AuthSettings>, ready: Arc<ReadySlot>) -> Self {
        Self { settings, ready }
    }

    /// Validates `token` (the part after `Bearer `), in this order:
    /// 1. size cap and compact shape (three non-empty base64url segments);
    /// 2. header: strict JSON, `alg` allowed (never `none`/HS*), no `crit`, `typ` acceptable,
    ///    `kid` only a lookup key (`jku`/`x5u`/`jwk`/`x5c` ignored);
    /// 3. provider discovered (else `IdpUnavailable`), key found by `kid` (a token without
    ///    `kid` only if exactly one cached key fits its `alg`; see `jwks.rs`);
    /// 4. signature and `exp`/`nbf`/`iss`/`aud` (jsonwebtoken, with the configured leeway);
    /// 5. own rules: claim types, `iat`, lifetime cap, exact `iss`, `sub`, not an ID token,
    ///    Cognito audience; then tenant and roles.
    pub async fn validate(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        let settings = &*self.settings;
        let compact = jws::split_compact(token, settings.max_token_bytes)?;
        let header = jws::parse_header(
            compact.header,
            &settings.allowed_algorithms,
            TypRule::Access,
        )?;
        let jwks = &self.ready.get()?.jwks;
        let key = jwks
            .key_for(header.kid.as_deref(), header.alg, || {
                jws::unverified_iat(compact)
            })
            .await?;
        let claims = jws::verify(
            token,
            compact,
            &key.key,
            &access_validation(settings, header.alg),
        )?;

        let now = OffsetDateTime::now_utc().unix_timestamp();
        let times = claims::check_common(&claims, settings, now)?;
        claims::check_access_token(&claims, settings, times, header.typed_access_token)?;
        let subject = claims::subject(&claims)?;
        let tenant_external_id = claims::tenant_from_claims(&claims, &settings.tenant_claim)?;
        let roles = claims::roles_from_claims(&claims, &settings.roles_claim)?;
        let (issued_at, expires_at) = claims::datetimes(times)?;
        Ok(VerifiedToken {
            subject,
            tenant_external_id,
            roles,
            expires_at,
            issued_at,
        })
    }
}

/// jsonwebtoken's part: only the header's `alg`; `exp`, `iat`, `sub`, `iss` required (`iat` is
/// listed for the record: jsonwebtoken ignores it, `claims::check_common` enforces it); exact
/// issuer; `nbf` checked when present; audience per mode.
fn access_validation(settings: &AuthSettings, alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = settings.leeway.as_secs();
    v.validate_exp = true;
    v.validate_nbf = true;
    v.set_issuer(&[settings.issuer_url.as_str()]);
    v.set_audience(&[settings.audience.as_str()]);
    match settings.audience_mode {
        AudienceMode::Aud => v.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]),
        // Cognito access tokens have no `aud`; when one is present it must still match.
        AudienceMode::CognitoClientId => {
            v.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        }
    }
    v
}
