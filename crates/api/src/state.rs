//! State shared by every handler: cheap to clone, built once at start-up.

use std::sync::Arc;

use haven_db::PgPool;
use haven_secrets::{SecretsHandle, SecretsStatus};

use crate::config::Config;
use crate::health::{Check, Readiness};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub pool: PgPool,
    pub readiness: Arc<Readiness>,
    /// The current secrets (Secrets Manager, refreshed; or the environment).
    pub secrets: SecretsHandle,
}

impl AppState {
    pub fn new(config: Arc<Config>, pool: PgPool, secrets: SecretsHandle) -> Self {
        let readiness = Arc::new(Readiness::new(pool.clone()));
        Self {
            config,
            pool,
            readiness,
            secrets,
        }
    }

    /// The `secrets` readiness check: `not_configured` without a secret id (local development),
    /// `unavailable` once refreshes have failed for longer than the staleness window.
    pub fn secrets_check(&self) -> Check {
        match self.secrets.status() {
            SecretsStatus::NotConfigured => Check::NotConfigured,
            SecretsStatus::Ok => Check::Ok,
            SecretsStatus::Stale { .. } => Check::Unavailable,
        }
    }
}
