//! Secrets at start-up: from Secrets Manager when a secret id is configured (then refreshed in
//! the background), else from the environment (local development).

use std::time::Duration;

use haven_secrets::{
    AppSecrets, OIDC_CLIENT_SECRET, SecretsClient, SecretsError, SecretsHandle, SecretsSettings,
};
use secrecy::SecretString;
use tokio::sync::watch;

use crate::config::{Config, DatabaseConfig, SecretsConfig};

/// Longest single Secrets Manager call.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// The service's secrets before anything else needs them (the database URL may be one of them).
/// The client secret is required only where there is an identity provider to use it with.
pub async fn load(
    config: &Config,
    shutdown: watch::Receiver<bool>,
) -> Result<SecretsHandle, SecretsError> {
    let from_env = AppSecrets {
        oidc_client_secret: config.oidc_client_secret.clone(),
        database_url: config.database.url.clone(),
        ..AppSecrets::default()
    };
    let required = if config.auth.is_some() {
        vec![OIDC_CLIENT_SECRET]
    } else {
        Vec::new()
    };
    let handle = load_from(config.secrets.as_ref(), from_env, required, shutdown).await?;
    if config.secrets.is_some() {
        report_shadowed(config, &handle.current());
    }
    Ok(handle)
}

/// The database URL, resolved the one way every command uses: from the Secrets Manager secret
/// when it holds DATABASE_URL, else from the environment. For the operator commands, only the
/// database section is read and no key is required of the secret.
pub async fn database_url(
    secrets: Option<&SecretsConfig>,
    database: &DatabaseConfig,
) -> Result<Option<SecretString>, SecretsError> {
    let handle = load_for_operator(secrets, database).await?;
    Ok(resolve_database_url(&handle, database))
}

/// The secrets as an operator command sees them: read once, no key required, no refresh.
pub async fn load_for_operator(
    secrets: Option<&SecretsConfig>,
    database: &DatabaseConfig,
) -> Result<SecretsHandle, SecretsError> {
    let from_env = AppSecrets {
        database_url: database.url.clone(),
        ..AppSecrets::default()
    };
    // The sender is dropped on return: no refresh task outlives the lookup.
    let (_stop, stopped) = watch::channel(false);
    load_from(secrets, from_env, Vec::new(), stopped).await
}

/// The secret's DATABASE_URL, else the environment's.
pub fn resolve_database_url(
    secrets: &SecretsHandle,
    database: &DatabaseConfig,
) -> Option<SecretString> {
    secrets
        .current()
        .database_url
        .clone()
        .or_else(|| database.url.clone())
}

/// Loads from Secrets Manager when a secret id is configured, else uses `from_env`. Transient
/// failures are retried within SECRETS_STARTUP_RETRY_SECONDS; permanent ones (not found,
/// access denied, malformed, a required key missing) fail at once.
async fn load_from(
    settings: Option<&SecretsConfig>,
    from_env: AppSecrets,
    required_keys: Vec<&'static str>,
    shutdown: watch::Receiver<bool>,
) -> Result<SecretsHandle, SecretsError> {
    let Some(settings) = settings else {
        return Ok(SecretsHandle::fixed(from_env));
    };
    let mut sdk = SecretsSettings::new(settings.secret_id.clone());
    sdk.region = settings.region.clone();
    sdk.retry_budget = settings.startup_retry;
    sdk.attempt_timeout = ATTEMPT_TIMEOUT;
    sdk.required_keys = required_keys;
    let client = SecretsClient::new(sdk).await;
    let initial = client.load_with_retry().await?;
    tracing::info!(secret_id = %settings.secret_id, keys = ?initial.key_names(), "secrets loaded from Secrets Manager");
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
