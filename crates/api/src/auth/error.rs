//! Why authentication failed: public message, stable error code, HTTP status, log reason.

/// Every way a bearer token, login state or IdP exchange can fail.
///
/// `Display` is the short public message: it never contains the token or IdP response text.
/// Details for operators are logged where the failure is detected (discovery, JWKS, exchange).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("Authentication required")]
    MissingToken,
    /// `Authorization` header present but not `Bearer <token>`.
    #[error("Authorization header must use the Bearer scheme")]
    NotBearer,
    /// Longer than `max_token_bytes`.
    #[error("Authentication token is too large")]
    TooLarge,
    /// Not three base64url segments, bad base64 or JSON, duplicate JSON members.
    #[error("Authentication token is malformed")]
    Malformed,
    /// `alg` missing, `none`, HMAC, not allowed, or not usable with the named key.
    #[error("Authentication token algorithm is not accepted")]
    BadAlgorithm,
    /// A `crit` header parameter is present (no extension is supported).
    #[error("Authentication token has unsupported critical header parameters")]
    CritHeader,
    /// `typ` header present and not `at+jwt`, `application/at+jwt` or `JWT`.
    #[error("Authentication token type is not accepted")]
    BadTyp,
    /// `kid` not in the identity provider's key set.
    #[error("Authentication token signing key is not known")]
    UnknownKid,
    /// No `kid`, and the key set does not have exactly one key usable with the `alg`.
    #[error("Authentication token does not identify its signing key")]
    KidMissing,
    /// Signature does not verify.
    #[error("Authentication token signature is invalid")]
    BadSignature,
    /// `exp` is past (beyond the leeway).
    #[error("Authentication token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("Authentication token is not yet valid")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("Authentication token was issued in the future")]
    IatInFuture,
    /// `exp - iat` exceeds `max_lifetime`.
    #[error("Authentication token lifetime exceeds the allowed maximum")]
    LifetimeTooLong,
    /// `iss` is not exactly the configured issuer.
    #[error("Authentication token issuer is not accepted")]
    BadIssuer,
    /// Audience (or Cognito `client_id`) does not match.
    #[error("Authentication token audience is not accepted")]
    BadAudience,
    /// A required claim is absent.
    #[error("Authentication token is missing the `{0}` claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type or an unusable value.
    #[error("Authentication token claim `{0}` is not valid")]
    WrongType(&'static str),
    /// An ID token (or other non-access token) presented as a bearer token.
    #[error("Authentication token is not an access token")]
    NotAccessToken,
    /// The tenant claim is absent.
    #[error("Authentication token has no tenant claim")]
    TenantClaimMissing,
    /// The tenant claim is not a string of the accepted form.
    #[error("Authentication token tenant claim is malformed")]
    TenantClaimMalformed,
    /// Login state missing, tampered with, expired, or ID token nonce mismatch.
    #[error("Login state is invalid or has expired")]
    StateInvalid,
    /// The identity provider refused the authorization code (invalid, expired, replayed).
    #[error("The identity provider rejected the authorization code")]
    CodeRejected,
    /// The identity provider refused the refresh token (invalid, expired, revoked, another
    /// client's).
    #[error("The identity provider rejected the refresh token")]
    RefreshRejected,
    /// The token names an unknown key and a refetch ran less than a cooldown ago, before the
    /// token was issued: the key may just have been published. Retryable.
    #[error("The signing key of this token is not known yet; retry shortly")]
    KeysCoolingDown {
        /// Seconds until a refetch is allowed.
        retry_after_secs: u32,
    },
    /// Discovery not done yet, or a needed key/response could not be fetched.
    #[error("The identity provider is unavailable")]
    IdpUnavailable,
    /// A local failure that is nobody's input (e.g. the random generator failed).
    #[error("Internal error")]
    Internal,
}

impl AuthError {
    /// Stable public error code (see docs/ERROR_CODES.md).
    pub fn code(&self) -> &'static str {
        use AuthError::*;
        match self {
            MissingToken | NotBearer | TooLarge | Malformed | BadAlgorithm | CritHeader
            | BadTyp | UnknownKid | KidMissing | BadIssuer | BadAudience | MissingClaim(_)
            | WrongType(_) | NotYetValid | IatInFuture | LifetimeTooLong | NotAccessToken => {
                "AUTH_001"
            }
            StateInvalid => "AUTH_002",
            Expired => "AUTH_003",
            BadSignature => "AUTH_004",
            TenantClaimMissing => "AUTH_005",
            TenantClaimMalformed => "AUTH_007",
            IdpUnavailable | KeysCoolingDown { .. } => "AUTH_008",
            CodeRejected => "AUTH_010",
            RefreshRejected => "AUTH_011",
            Internal => "SYS_003",
        }
    }

    /// HTTP status for this failure.
    pub fn status(&self) -> u16 {
        use AuthError::*;
        match self {
            StateInvalid | TenantClaimMissing | TenantClaimMalformed => 403,
            CodeRejected => 400,
            IdpUnavailable | KeysCoolingDown { .. } => 503,
            Internal => 500,
            _ => 401,
        }
    }

    /// Seconds a client should wait before retrying (503 answers only).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AuthError::KeysCoolingDown { retry_after_secs } => Some(u64::from(*retry_after_secs)),
            AuthError::IdpUnavailable => Some(5),
            _ => None,
        }
    }

    /// Short machine reason for logs (finer than the code; never contains token data).
    pub fn reason(&self) -> &'static str {
        use AuthError::*;
        match self {
            MissingToken => "missing_token",
            NotBearer => "not_bearer",
            TooLarge => "too_large",
            Malformed => "malformed",
            BadAlgorithm => "bad_algorithm",
            CritHeader => "crit_header",
            BadTyp => "bad_typ",
            UnknownKid => "unknown_kid",
            KidMissing => "kid_missing",
            BadSignature => "bad_signature",
            Expired => "expired",
            NotYetValid => "not_yet_valid",
            IatInFuture => "iat_in_future",
            LifetimeTooLong => "lifetime_too_long",
            BadIssuer => "bad_issuer",
            BadAudience => "bad_audience",
            MissingClaim(_) => "missing_claim",
            WrongType(_) => "wrong_claim_type",
            NotAccessToken => "not_access_token",
            TenantClaimMissing => "tenant_claim_missing",
            TenantClaimMalformed => "tenant_claim_malformed",
            StateInvalid => "state_invalid",
            CodeRejected => "code_rejected",
            RefreshRejected => "refresh_rejected",
            KeysCoolingDown { .. } => "unknown_kid_cooldown",
            IdpUnavailable => "idp_unavailable",
            Internal => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AuthError;

    #[test]
    fn codes_and_statuses_follow_the_registry() {
        assert_eq!(
            (AuthError::Expired.code(), AuthError::Expired.status()),
            ("AUTH_003", 401)
        );
        assert_eq!(AuthError::BadSignature.code(), "AUTH_004");
        assert_eq!(
            (
                AuthError::TenantClaimMissing.code(),
                AuthError::TenantClaimMissing.status()
            ),
            ("AUTH_005", 403)
        );
        assert_eq!(AuthError::TenantClaimMalformed.code(), "AUTH_007");
        assert_eq!(
            (
                AuthError::StateInvalid.code(),
                AuthError::StateInvalid.status()
            ),
            ("AUTH_002", 403)
        );
        assert_eq!(
            (
                AuthError::IdpUnavailable.code(),
                AuthError::IdpUnavailable.status()
            ),
            ("AUTH_008", 503)
        );
        for e in [
            AuthError::UnknownKid,
            AuthError::BadAlgorithm,
            AuthError::MissingClaim("aud"),
            AuthError::NotAccessToken,
        ] {
            assert_eq!((e.code(), e.status()), ("AUTH_001", 401));
        }
    }

    #[test]
    fn public_message_of_expired_matches_the_api_contract() {
        assert_eq!(
            AuthError::Expired.to_string(),
            "Authentication token has expired"
        );
    }
}
