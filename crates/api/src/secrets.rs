//! Secrets at start-up: from Secrets Manager when a secret id is configured (then refreshed in
//! the background), else from the environment (local development).

use std::time::Duration;

use haven_secrets::{
    AppSecrets, OIDC_CLIENT_SECRET, SecretsClient, SecretsError, SecretsHandle, SecretsSettings,
};
use tokio::sync::watch;

use crate::config::Config;

/// Longest single Secrets Manager call.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Loads the secrets before anything else needs them (the database URL may be one of them).
/// Transient failures are retried within SECRETS_STARTUP_RETRY_SECONDS; permanent ones (not
/// found, access denied, malformed, a required key missing) fail at once.
pub async fn load(
    config: &Config,
    shutdown: watch::Receiver<bool>,
) -> Result<SecretsHandle, SecretsError> {
    let Some(settings) = &config.secrets else {
        let from_env = AppSecrets {
            oidc_client_secret: config.oidc_client_secret.clone(),
            database_url: config.database.url.clone(),
            ..AppSecrets::default()
        };
        return Ok(SecretsHandle::fixed(from_env));
    };
    let mut sdk = SecretsSettings::new(settings.secret_id.clone());
    sdk.region = settings.region.clone();
    sdk.retry_budget = settings.startup_retry;
    sdk.attempt_timeout = ATTEMPT_TIMEOUT;
    // The client secret is required only where there is an identity provider to use it with.
    sdk.required_keys = if config.oidc.is_some() {
        vec![OIDC_CLIENT_SECRET]
    } else {
        Vec::new()
    };
    let client = SecretsClient::new(sdk).await;
    let initial = client.load_with_retry().await?;
    tracing::info!(secret_id = %settings.secret_id, keys = ?initial.key_names(), "secrets loaded from Secrets Manager");
    report_shadowed(config, &initial);
    let (handle, _task) = SecretsHandle::spawn_refresh(
        client,
        initial,
        settings.refresh_every,
        settings.stale_after,
        shutdown,
    );
    Ok(handle)
}

/// A secret that is also set as a plain variable is a stray copy operators should remove; the
/// Secrets Manager value is the one used.
fn report_shadowed(config: &Config, secrets: &AppSecrets) {
    if !config.is_production() {
        return;
    }
    for key in secrets.key_names() {
        if config.environment_names.contains(key) {
            tracing::warn!(
                key,
                "secret is also set in the environment; the Secrets Manager value is used"
            );
        }
    }
}
