//! The Secrets Manager client: one fetch, classified errors, and retries at start.

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_secretsmanager::config::retry::RetryConfig;

use crate::classify::classify;
use crate::error::SecretsError;
use crate::parse::parse_secret_json;
use crate::retry::retry_transient;
use crate::secrets::AppSecrets;
use crate::settings::SecretsSettings;

/// Fetches one secret and turns it into [`AppSecrets`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SecretsClient {
    sdk: aws_sdk_secretsmanager::Client,
    settings: SecretsSettings,
}

impl SecretsClient {
    /// Builds the client from aws-config's default chain: credentials, region (unless
    /// `settings.region` is set) and endpoint (`AWS_ENDPOINT_URL_SECRETS_MANAGER`, then
    /// `AWS_ENDPOINT_URL`, then the profile) all come from there.
    pub async fn new(settings: SecretsSettings) -> SecretsClient {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts(&settings))
            .retry_config(retries());
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let sdk_config = loader.load().await;
        SecretsClient::from_sdk_config(&sdk_config, settings)
    }

    /// Builds the client from an already loaded `SdkConfig` (tests point it at a local
    /// endpoint this way). The settings' region, timeouts and retry policy still apply.
    pub fn from_sdk_config(sdk_config: &SdkConfig, settings: SecretsSettings) -> SecretsClient {
        let mut builder = aws_sdk_secretsmanager::config::Builder::from(sdk_config)
            .timeout_config(timeouts(&settings))
            .retry_config(retries());
        if let Some(region) = &settings.region {
            builder = builder.region(Region::new(region.clone()));
        }
        SecretsClient {
            sdk: aws_sdk_secretsmanager::Client::from_conf(builder.build()),
            settings,
        }
    }

    /// The settings this client was built with.
    pub fn settings(&self) -> &SecretsSettings {
        &self.settings
    }

    /// One `GetSecretValue` call (bounded by `attempt_timeout`), parsed and validated.
    pub async fn fetch(&self) -> Result<AppSecrets, SecretsError> {
        let secret_id = self.settings.secret_id.as_str();
        let output = self
            .sdk
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|error| classify(secret_id, &error))?;
        match (output.secret_string(), output.secret_binary()) {
            (Some(text), _) => parse_secret_json(secret_id, text, &self.settings.required_keys),
            (None, Some(_)) => Err(SecretsError::Malformed {
                secret_id: secret_id.to_owned(),
                reason: "the secret is stored as SecretBinary; a JSON object in SecretString \
                         is expected"
                    .to_owned(),
            }),
            (None, None) => Err(SecretsError::Malformed {
                secret_id: secret_id.to_owned(),
                reason: "the secret version has no SecretString".to_owned(),
            }),
        }
    }

    /// [`fetch`](Self::fetch), retrying transient failures with capped exponential backoff
    /// and jitter until `retry_budget` is spent; permanent failures return at once.
    pub async fn load_with_retry(&self) -> Result<AppSecrets, SecretsError> {
        retry_transient(&self.settings.secret_id, self.settings.retry_budget, || {
            self.fetch()
        })
        .await
    }
}

/// Every call, its connection and its single attempt end within `attempt_timeout`.
fn timeouts(settings: &SecretsSettings) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(settings.attempt_timeout)
        .operation_attempt_timeout(settings.attempt_timeout)
        .operation_timeout(settings.attempt_timeout)
        .build()
}

/// One attempt per call: [`retry_transient`] owns retries, so budgets do not multiply.
fn retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(1)
}
