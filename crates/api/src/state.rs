//! State shared by every handler: cheap to clone, built once at start-up.

use std::sync::Arc;

use haven_db::PgPool;

use crate::config::Config;
use crate::health::{Check, Readiness};

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub pool: PgPool,
    pub readiness: Arc<Readiness>,
}

impl AppState {
    pub fn new(config: Arc<Config>, pool: PgPool) -> Self {
        let readiness = Arc::new(Readiness::new(pool.clone()));
        Self {
            config,
            pool,
            readiness,
        }
    }

    /// The `secrets` readiness check: not configured until a Secrets Manager secret id is set.
    pub fn secrets_check(&self) -> Check {
        Check::NotConfigured
    }
}
