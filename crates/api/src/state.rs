//! State shared by every handler: cheap to clone, built once at start-up.

use std::sync::Arc;

use haven_db::PgPool;
use haven_secrets::{SecretsHandle, SecretsStatus};

use crate::auth::Oidc;
use crate::cache::IdentityCaches;
use crate::config::Config;
use crate::error::{ApiError, codes};
use crate::limits::{SharedStore, TenantShares};
use crate::readiness::{Check, Readiness};

/// The state handlers see: one `Arc`, so the clone axum makes for every extractor and
/// `from_fn_with_state` layer is one reference count, not one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
    pub config: Arc<Config>,
    pub pool: PgPool,
    pub readiness: Arc<Readiness>,
    /// The current secrets (Secrets Manager, refreshed; or the environment).
    pub secrets: SecretsHandle,
    /// The identity provider (discovery, keys, validation); `None` when none is configured
    /// (development without OIDC_ISSUER_URL): protected routes then answer 503 AUTH_008.
    pub oidc: Option<Arc<Oidc>>,
    /// Tenant and user lookups cached per process.
    pub identity: Arc<IdentityCaches>,
    /// The rate-limit budgets shared by every replica (REDIS_URL), if configured.
    pub shared_limits: Option<Arc<SharedStore>>,
    /// Each tenant's share of the pool (per process).
    pub shares: TenantShares,
    /// Document content storage; `None` without STORAGE_BUCKET (content endpoints answer 503).
    pub storage: Option<Arc<crate::storage::ContentStore>>,
    /// Field-level PHI encryption (keys cached per process); `None` when PHI_ENCRYPTION is off
    /// (PHI columns are then written in the legacy plaintext format).
    pub phi: Option<Arc<haven_phi::Phi>>,
}

impl AppState {
    pub fn new(
        config: Arc<Config>,
        pool: PgPool,
        secrets: SecretsHandle,
        oidc: Option<Arc<Oidc>>,
        phi: Option<Arc<haven_phi::Phi>>,
        storage: Option<Arc<crate::storage::ContentStore>>,
    ) -> Self {
        let readiness = Arc::new(Readiness::new(pool.clone()));
        let shared_limits = config.limits.redis_url.as_ref().and_then(|url| {
            // The configuration parsed it already; a failure here would be a client bug.
            SharedStore::new(url.expose())
                .inspect_err(
                    |error| tracing::error!(%error, "REDIS_URL unusable: limits stay local"),
                )
                .ok()
                .map(Arc::new)
        });
        Self(Arc::new(Shared {
            pool,
            readiness,
            secrets,
            oidc,
            identity: Arc::new(IdentityCaches::default()),
            shared_limits,
            shares: TenantShares::new(
                config.database.tenant_max_connections,
                config.database.tenant_max_exports,
                config.database.acquire_timeout,
            ),
            storage,
            phi,
            config,
        }))
    }
}

impl Shared {
    /// The content store, or 503 STORAGE_001 when STORAGE_BUCKET is not set.
    pub fn storage(&self) -> Result<&crate::storage::ContentStore, ApiError> {
        self.storage
            .as_deref()
            .ok_or_else(crate::storage::not_configured)
    }

    /// The `storage` readiness check: `not_configured` without a bucket.
    pub async fn storage_check(&self) -> Check {
        match &self.storage {
            Some(store) => store.check().await,
            None => Check::NotConfigured,
        }
    }

    /// The identity provider, or 503 AUTH_008 when none is configured.
    pub fn oidc(&self) -> Result<&Arc<Oidc>, ApiError> {
        self.oidc.as_ref().ok_or_else(|| {
            ApiError::new(codes::AUTH_008).with_message("No identity provider is configured")
        })
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
