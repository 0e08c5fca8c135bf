//! Why a secret could not be loaded: stable code, transient or not, never a value.

/// The error-registry code for every secrets failure ("Secrets Manager unavailable", 503).
pub const SECRETS_ERROR_CODE: &str = "SYS_002";

/// A failure to load secrets. No variant carries a secret value or any part of one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// The secret does not exist (`ResourceNotFoundException`).
    #[error("secret {secret_id:?} was not found in Secrets Manager")]
    NotFound {
        /// The secret name or ARN asked for.
        secret_id: String,
    },
    /// The caller's credentials may not read the secret (`AccessDeniedException`).
    #[error("access to secret {secret_id:?} was denied")]
    AccessDenied {
        /// The secret name or ARN asked for.
        secret_id: String,
    },
    /// The secret is not a JSON object of strings (or is binary). `reason` names the JSON
    /// error category, line and column or the type found, never the text.
    #[error("secret {secret_id:?} is malformed: {reason}")]
    Malformed {
        /// The secret name or ARN asked for.
        secret_id: String,
        /// What is wrong, without any of the secret's text.
        reason: String,
    },
    /// A required key is absent or empty.
    #[error("secret {secret_id:?} has no value for required key {key}")]
    MissingKey {
        /// The secret name or ARN asked for.
        secret_id: String,
        /// The missing key's name.
        key: String,
    },
    /// A key's value is a number, object, array, boolean or null instead of a string.
    #[error("secret {secret_id:?}: the value of key {key} is not a string")]
    NotAString {
        /// The secret name or ARN asked for.
        secret_id: String,
        /// The offending key's name.
        key: String,
    },
    /// Secrets Manager refused the request for a reason retrying will not fix
    /// (`DecryptionFailure`, `InvalidRequestException`, bad credentials, no region, ...).
    #[error("Secrets Manager rejected the request for secret {secret_id:?} ({kind})")]
    Rejected {
        /// The secret name or ARN asked for.
        secret_id: String,
        /// The AWS error code or SDK error kind.
        kind: String,
    },
    /// Secrets Manager could not be reached or answered with a transient error
    /// (connection failure, timeout, throttling, 5xx).
    #[error("Secrets Manager is unavailable for secret {secret_id:?} ({kind})")]
    Unavailable {
        /// The secret name or ARN asked for.
        secret_id: String,
        /// The AWS error code or SDK error kind, e.g. "dispatch failure", "timeout".
        kind: String,
    },
}

impl SecretsError {
    /// The stable error code: `SYS_002` for every variant.
    pub fn code(&self) -> &'static str {
        SECRETS_ERROR_CODE
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SecretsError::Unavailable { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<SecretsError> {
        let secret_id = "haven/app".to_owned();
        vec![
            SecretsError::NotFound {
                secret_id: secret_id.clone(),
            },
            SecretsError::AccessDenied {
                secret_id: secret_id.clone(),
            },
            SecretsError::Malformed {
                secret_id: secret_id.clone(),
                reason: "r".into(),
            },
            SecretsError::MissingKey {
                secret_id: secret_id.clone(),
                key: "K".into(),
            },
            SecretsError::NotAString {
                secret_id: secret_id.clone(),
                key: "K".into(),
            },
            SecretsError::Rejected {
                secret_id: secret_id.clone(),
                kind: "DecryptionFailure".into(),
            },
            SecretsError::Unavailable {
                secret_id,
                kind: "timeout".into(),
            },
        ]
    }

    #[test]
    fn every_variant_has_code_sys_002_and_only_unavailable_is_transient() {
        for error in every_variant() {
            assert_eq!(error.code(), "SYS_002");
            let expect_transient = matches!(error, SecretsError::Unavailable { .. });
            assert_eq!(error.is_transient(), expect_transient, "{error}");
            assert!(error.to_string().contains("haven/app"), "{error}");
        }
    }
}
