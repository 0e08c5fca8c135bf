//! How the provider's refusals map to [`AuthError`] (logged with the OAuth error code, never a
//! token), and Haven's algorithm names in openidconnect's terms.

use openidconnect::core::{CoreErrorResponseType, CoreJwsSigningAlgorithm};
use openidconnect::{ClaimsVerificationError, RequestTokenError, StandardErrorResponse};

use super::error::AuthError;

/// The token endpoint said no (`rejected`), or could not be used (`IdpUnavailable`). Logged
/// with the OAuth error code only: never a token or the response body.
pub(crate) fn token_error<E: std::error::Error>(
    error: &RequestTokenError<E, StandardErrorResponse<CoreErrorResponseType>>,
    rejected: AuthError,
) -> AuthError {
    match error {
        RequestTokenError::ServerResponse(response) => {
            let code = response.error().as_ref();
            if matches!(code, "server_error" | "temporarily_unavailable") {
                tracing::warn!(error = code, "token endpoint failed");
                return AuthError::IdpUnavailable;
            }
            tracing::info!(
                error = %code.chars().take(64).collect::<String>(),
                reason = rejected.reason(),
                "token endpoint refused the grant"
            );
            rejected
        }
        RequestTokenError::Request(e) => {
            let error = super::discovery::error_chain(e);
            tracing::warn!(%error, "token endpoint unreachable");
            AuthError::IdpUnavailable
        }
        RequestTokenError::Parse(e, _) => {
            tracing::warn!(error = %e.inner(), "token endpoint answered something that is not a token response");
            AuthError::IdpUnavailable
        }
        RequestTokenError::Other(e) => {
            tracing::warn!(error = %e, "token endpoint failed");
            AuthError::IdpUnavailable
        }
    }
}

pub(crate) fn claims_error(error: &ClaimsVerificationError) -> AuthError {
    tracing::info!(error = %error, "ID token refused");
    match error {
        ClaimsVerificationError::InvalidNonce(_) => AuthError::StateInvalid,
        ClaimsVerificationError::Expired(_) => AuthError::Expired,
        ClaimsVerificationError::InvalidAudience(_) => AuthError::BadAudience,
        ClaimsVerificationError::InvalidIssuer(_) => AuthError::BadIssuer,
        ClaimsVerificationError::SignatureVerification(_) => AuthError::BadSignature,
        _ => AuthError::Malformed,
    }
}

pub(crate) fn core_alg(alg: jsonwebtoken::Algorithm) -> Option<CoreJwsSigningAlgorithm> {
    use CoreJwsSigningAlgorithm as C;
    use jsonwebtoken::Algorithm as A;
    Some(match alg {
        A::RS256 => C::RsaSsaPkcs1V15Sha256,
        A::RS384 => C::RsaSsaPkcs1V15Sha384,
        A::RS512 => C::RsaSsaPkcs1V15Sha512,
        A::PS256 => C::RsaSsaPssSha256,
        A::PS384 => C::RsaSsaPssSha384,
        A::PS512 => C::RsaSsaPssSha512,
        A::ES256 => C::EcdsaP256Sha256,
        A::ES384 => C::EcdsaP384Sha384,
        A::EdDSA => C::EdDsa,
        _ => return None,
    })
}
