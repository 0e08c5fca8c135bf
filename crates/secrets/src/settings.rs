//! Which secret to load and how long to keep trying.

use std::time::Duration;

use crate::secrets::OIDC_CLIENT_SECRET;

/// Total time spent retrying transient failures at start, unless configured otherwise.
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(30);
/// Time allowed for one call to Secrets Manager, unless configured otherwise.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// How to reach and validate the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretsSettings {
    /// Secret name or ARN (`AWS_SECRETS_MANAGER_SECRET_ID`).
    pub secret_id: String,
    /// Region override; `None` uses the default chain (`AWS_REGION`, profile, IMDS).
    pub region: Option<String>,
    /// Keys that must be present with a non-empty string value.
    pub required_keys: Vec<&'static str>,
    /// Total time for retrying transient failures in [`load_with_retry`].
    ///
    /// [`load_with_retry`]: crate::SecretsClient::load_with_retry
    pub retry_budget: Duration,
    /// Time allowed for one call (connect, send, read).
    pub attempt_timeout: Duration,
}

impl SecretsSettings {
    /// Settings for `secret_id` with the defaults: region from the chain, `OIDC_CLIENT_SECRET`
    /// required, a 30 s retry budget and a 5 s attempt timeout.
    pub fn new(secret_id: impl Into<String>) -> SecretsSettings {
        SecretsSettings {
            secret_id: secret_id.into(),
            region: None,
            required_keys: vec![OIDC_CLIENT_SECRET],
            retry_budget: DEFAULT_RETRY_BUDGET,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
        }
    }
}
