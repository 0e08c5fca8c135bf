//! Bearer access-token validation: cheapest checks first, then the signature, then claims; a
//! token accepted before is answered from a small cache of its hash while nothing it was checked
//! against has changed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::cache::TtlCache;

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

/// How long an accepted token is remembered at most (a token's own `exp` is usually sooner).
/// How many: [`AuthSettings::accepted_tokens`], about 200 bytes each.
const ACCEPTED_TTL: Duration = Duration::from_secs(300);

/// A token that passed every check, remembered by the SHA-256 of its exact bytes (the token
/// itself is not kept).
#[derive(Clone)]
struct Accepted {
    verified: VerifiedToken,
    /// The key set its key came from ([`super::keyset::KeySet::number`]).
    key_set: u64,
    /// `exp` plus the leeway: the last second jsonwebtoken would accept it.
    valid_until: i64,
}

/// Validates bearer access tokens against the issuer's keys. Cheap to clone; clones share the
/// cache of accepted tokens.
#[derive(Clone)]
pub struct TokenValidator {
    settings: Arc<AuthSettings>,
    ready: Arc<ReadySlot>,
    /// `None` when [`AuthSettings::accepted_tokens`] is 0: every token is verified in full.
    accepted: Option<Arc<TtlCache<[u8; 32], Accepted>>>,
    repeats: Arc<AtomicU64>,
    /// jsonwebtoken's part of the checks for each allowed algorithm, built once.
    validations: Arc<[(Algorithm, Validation)]>,
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
        let accepted = (settings.accepted_tokens > 0)
            .then(|| Arc::new(TtlCache::new(ACCEPTED_TTL, settings.accepted_tokens)));
        let validations = settings
            .allowed_algorithms
            .iter()
            .map(|&alg| (alg, access_validation(&settings, alg)))
            .collect();
        Self {
            settings,
            ready,
            accepted,
            repeats: Arc::new(AtomicU64::new(0)),
            validations,
        }
    }

    /// Tokens answered from the cache of accepted tokens so far (for metrics and tests).
    pub fn repeats(&self) -> u64 {
        self.repeats.load(Ordering::Relaxed)
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
    ///
    /// Steps 3 to 5 are skipped for a token these exact bytes of which passed them before, while
    /// the key set it was verified against is still the one in use and fresh (any refetch, a
    /// rotation or [`super::jwks::JwksCache::force_refresh`] forgets every such token) and its
    /// `exp` plus the leeway has not passed. Every check there depends only on the token's
    /// bytes, the keys and the clock, so the answer is the one a full check would give; the
    /// signature is not verified again for each request a frontend makes with the same token.
    /// With [`AuthSettings::accepted_tokens`] 0 nothing is remembered and every token is
    /// checked in full.
    pub async fn validate(&self, token: &str) -> Result<VerifiedToken, AuthError> {
        let settings = &*self.settings;
        let compact = jws::split_compact(token, settings.max_token_bytes)?;
        let header = jws::parse_header(
            compact.header,
            &settings.allowed_algorithms,
            TypRule::Access,
        )?;
        let jwks = &self.ready.get()?.jwks;
        let remembered = self
            .accepted
            .as_deref()
            .map(|cache| (cache, <[u8; 32]>::from(Sha256::digest(token.as_bytes()))));
        if let Some((cache, digest)) = &remembered
            && let Some(current) = jwks.fresh_key_set()
            && let Some(seen) = cache.get(digest)
            && seen.key_set == current
            && OffsetDateTime::now_utc().unix_timestamp() <= seen.valid_until
        {
            self.repeats.fetch_add(1, Ordering::Relaxed);
            return Ok(seen.verified);
        }
        let (key, key_set) = jwks
            .key_for(header.kid.as_deref(), header.alg, || {
                jws::unverified_iat(compact)
            })
            .await?;
        // parse_header lets only the allowed algorithms through, each of which has its own.
        let (_, validation) = self
            .validations
            .iter()
            .find(|(alg, _)| *alg == header.alg)
            .ok_or(AuthError::BadAlgorithm)?;
        let claims = jws::verify(token, compact, &key, validation)?;

        let now = OffsetDateTime::now_utc().unix_timestamp();
        let times = claims::check_common(&claims, settings, now)?;
        claims::check_access_token(&claims, settings, times, header.typed_access_token)?;
        let subject = claims::subject(&claims)?;
        let tenant_external_id = claims::tenant_from_claims(&claims, &settings.tenant_claim)?;
        let roles = claims::roles_from_claims(&claims, &settings.roles_claim)?;
        let (issued_at, expires_at) = claims::datetimes(times)?;
        let verified = VerifiedToken {
            subject,
            tenant_external_id,
            roles,
            expires_at,
            issued_at,
        };
        if let Some((cache, digest)) = remembered {
            let leeway = i64::try_from(settings.leeway.as_secs()).unwrap_or(i64::MAX);
            let accepted = Accepted {
                verified: verified.clone(),
                key_set,
                valid_until: expires_at.unix_timestamp().saturating_add(leeway),
            };
            cache.insert(digest, accepted);
        }
        Ok(verified)
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
