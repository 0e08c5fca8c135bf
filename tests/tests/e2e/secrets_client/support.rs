//! Helpers for the Secrets Manager client tests: SDK configs pointed at moto (the server itself is
//! `haven_tests::Moto`), short settings, and secrets created through the same SDK crate.

use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_secretsmanager::config::Credentials;
use aws_sdk_secretsmanager::primitives::Blob;
use haven_secrets::SecretsSettings;

/// Upper bound for anything a test waits for; generous because moto and the tests share cores.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// An SDK config for `endpoint` with dummy credentials, as the code under test receives it.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .region(Region::new("us-east-1"))
        .load()
        .await
}

/// Settings with short timeouts so failing tests fail fast.
pub fn settings(secret_id: &str) -> SecretsSettings {
    SecretsSettings {
        retry_budget: Duration::from_secs(2),
        attempt_timeout: Duration::from_secs(2),
        ..SecretsSettings::new(secret_id)
    }
}

/// Creates a secret whose `SecretString` is `text`, through the same SDK crate.
pub async fn create_secret(config: &SdkConfig, name: &str, text: &str) {
    aws_sdk_secretsmanager::Client::new(config)
        .create_secret()
        .name(name)
        .secret_string(text)
        .send()
        .await
        .expect("CreateSecret on moto");
}

/// Creates a secret stored as `SecretBinary`.
pub async fn create_binary_secret(config: &SdkConfig, name: &str, bytes: &[u8]) {
    aws_sdk_secretsmanager::Client::new(config)
        .create_secret()
        .name(name)
        .secret_binary(Blob::new(bytes))
        .send()
        .await
        .expect("CreateSecret (binary) on moto");
}

/// Stores a new current version of the secret.
pub async fn put_secret(config: &SdkConfig, name: &str, text: &str) {
    aws_sdk_secretsmanager::Client::new(config)
        .put_secret_value()
        .secret_id(name)
        .secret_string(text)
        .send()
        .await
        .expect("PutSecretValue on moto");
}

/// Polls `check` every 50 ms until it holds; panics naming `what` after [`DEADLINE`].
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
