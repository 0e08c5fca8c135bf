//! SDK errors from `GetSecretValue` sorted into permanent and transient [`SecretsError`]s.

use std::error::Error;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_secretsmanager::config::http::HttpResponse;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;

use crate::error::SecretsError;

/// Error codes that mean "try again later" although they arrive as a 4xx.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "ServiceUnavailable",
    "InternalFailure",
];

/// Classifies one failed `GetSecretValue` call.
pub(crate) fn classify(
    secret_id: &str,
    error: &SdkError<GetSecretValueError, HttpResponse>,
) -> SecretsError {
    let unavailable = |kind: &str| SecretsError::Unavailable {
        secret_id: secret_id.to_owned(),
        kind: kind.to_owned(),
    };
    match error {
        SdkError::ServiceError(context) => {
            classify_service(secret_id, context.err(), context.raw().status().as_u16())
        }
        SdkError::TimeoutError(_) => unavailable("timeout"),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => unavailable("timeout"),
        SdkError::DispatchFailure(failure) if failure.is_io() => {
            unavailable("dispatch failure (io)")
        }
        // Credential resolution fails before anything is sent, so it surfaces here too.
        SdkError::DispatchFailure(failure) => match failure
            .as_connector_error()
            .and_then(|e| credentials_error(e))
        {
            Some(error) => classify_credentials(secret_id, error),
            None => unavailable("dispatch failure"),
        },
        SdkError::ResponseError(_) => unavailable("response error"),
        // The request could not even be built (no region, invalid endpoint): configuration.
        SdkError::ConstructionFailure(_) => SecretsError::Rejected {
            secret_id: secret_id.to_owned(),
            kind: "construction failure".to_owned(),
        },
        _ => unavailable("unknown sdk error"),
    }
}

/// The credentials error somewhere in `error`'s source chain, if any.
fn credentials_error<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a CredentialsError> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<CredentialsError>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

/// No credentials or a broken credentials setup will not heal by retrying; a provider that
/// timed out or failed (STS, IMDS, container endpoint) may.
fn classify_credentials(secret_id: &str, error: &CredentialsError) -> SecretsError {
    let secret_id = secret_id.to_owned();
    match error {
        CredentialsError::CredentialsNotLoaded(_) => SecretsError::Rejected {
            secret_id,
            kind: "no AWS credentials found".to_owned(),
        },
        CredentialsError::InvalidConfiguration(_) => SecretsError::Rejected {
            secret_id,
            kind: "invalid AWS credentials configuration".to_owned(),
        },
        CredentialsError::ProviderTimedOut(_) => SecretsError::Unavailable {
            secret_id,
            kind: "credentials provider timed out".to_owned(),
        },
        _ => SecretsError::Unavailable {
            secret_id,
            kind: "credentials provider error".to_owned(),
        },
    }
}

/// Classifies an error response from the service by modeled variant, code, then status.
pub(crate) fn classify_service(
    secret_id: &str,
    error: &GetSecretValueError,
    status: u16,
) -> SecretsError {
    let secret_id = secret_id.to_owned();
    let code = error.code().unwrap_or("unknown error code").to_owned();
    match error {
        GetSecretValueError::ResourceNotFoundException(_) => SecretsError::NotFound { secret_id },
        GetSecretValueError::DecryptionFailure(_)
        | GetSecretValueError::InvalidRequestException(_)
        | GetSecretValueError::InvalidParameterException(_) => SecretsError::Rejected {
            secret_id,
            kind: code,
        },
        GetSecretValueError::InternalServiceError(_) => SecretsError::Unavailable {
            secret_id,
            kind: code,
        },
        _ if code == "AccessDeniedException" => SecretsError::AccessDenied { secret_id },
        _ if TRANSIENT_CODES.contains(&code.as_str()) || status >= 500 || status == 429 => {
            SecretsError::Unavailable {
                secret_id,
                kind: code,
            }
        }
        _ => SecretsError::Rejected {
            secret_id,
            kind: code,
        },
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_secretsmanager::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_secretsmanager::types::error::{
        DecryptionFailure, InternalServiceError, InvalidRequestException, ResourceNotFoundException,
    };

    use std::time::Duration;

    use super::*;

    const ID: &str = "haven/app";

    fn generic(code: &str) -> GetSecretValueError {
        GetSecretValueError::generic(ErrorMetadata::builder().code(code).build())
    }

    #[test]
    fn modeled_service_errors_map_to_their_variants() {
        let not_found = GetSecretValueError::ResourceNotFoundException(
            ResourceNotFoundException::builder().build(),
        );
        assert!(matches!(
            classify_service(ID, &not_found, 400),
            SecretsError::NotFound { .. }
        ));
        let decryption =
            GetSecretValueError::DecryptionFailure(DecryptionFailure::builder().build());
        let invalid = GetSecretValueError::InvalidRequestException(
            InvalidRequestException::builder().build(),
        );
        for permanent in [decryption, invalid] {
            let error = classify_service(ID, &permanent, 400);
            assert!(matches!(error, SecretsError::Rejected { .. }), "{error:?}");
        }
        let internal =
            GetSecretValueError::InternalServiceError(InternalServiceError::builder().build());
        assert!(classify_service(ID, &internal, 500).is_transient());
    }

    #[test]
    fn unmodeled_codes_map_by_code_then_status() {
        assert_eq!(
            classify_service(ID, &generic("AccessDeniedException"), 400),
            SecretsError::AccessDenied {
                secret_id: ID.into()
            }
        );
        assert_eq!(
            classify_service(ID, &generic("ThrottlingException"), 400),
            SecretsError::Unavailable {
                secret_id: ID.into(),
                kind: "ThrottlingException".into()
            }
        );
        assert!(classify_service(ID, &generic("SomethingNew"), 503).is_transient());
        assert!(classify_service(ID, &generic("SlowDown"), 429).is_transient());
        let rejected = classify_service(ID, &generic("UnrecognizedClientException"), 400);
        assert_eq!(
            rejected,
            SecretsError::Rejected {
                secret_id: ID.into(),
                kind: "UnrecognizedClientException".into()
            }
        );
    }

    #[test]
    fn transport_failures_are_transient_with_their_kind() {
        let timeout = SdkError::<GetSecretValueError, HttpResponse>::timeout_error("slow");
        let refused = SdkError::<GetSecretValueError, HttpResponse>::dispatch_failure(
            ConnectorError::io("connection refused".into()),
        );
        let kinds: Vec<_> = [timeout, refused]
            .iter()
            .map(|error| classify(ID, error))
            .collect();
        assert_eq!(
            kinds,
            [
                SecretsError::Unavailable {
                    secret_id: ID.into(),
                    kind: "timeout".into()
                },
                SecretsError::Unavailable {
                    secret_id: ID.into(),
                    kind: "dispatch failure (io)".into()
                },
            ]
        );
        let construction =
            SdkError::<GetSecretValueError, HttpResponse>::construction_failure("no region");
        assert!(!classify(ID, &construction).is_transient());
    }

    #[test]
    fn credential_failures_are_told_apart_from_connection_failures() {
        let wrapped = |error: CredentialsError| {
            let failure = ConnectorError::other(Box::new(error), None);
            classify(
                ID,
                &SdkError::<GetSecretValueError, HttpResponse>::dispatch_failure(failure),
            )
        };
        assert_eq!(
            wrapped(CredentialsError::not_loaded("no providers in chain")),
            SecretsError::Rejected {
                secret_id: ID.into(),
                kind: "no AWS credentials found".into()
            }
        );
        let timed_out = wrapped(CredentialsError::provider_timed_out(Duration::from_secs(5)));
        assert!(timed_out.is_transient(), "{timed_out:?}");
        let provider = wrapped(CredentialsError::provider_error("sts said no"));
        assert!(provider.is_transient(), "{provider:?}");
    }
}
