//! Start-up and shutdown: `Application::build` connects, migrates and binds; tests call it too.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haven_db::{MigrationError, PoolSettings};
use hyper_util::server::graceful::GracefulShutdown;
use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::http::server;
use crate::router::router;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("invalid identity provider settings: {0}")]
    Auth(#[source] crate::auth::SettingsError),
    #[error("cannot load secrets (SYS_002): {0}")]
    Secrets(#[from] haven_secrets::SecretsError),
    #[error("DATABASE_URL is not set and no secret supplied it")]
    NoDatabaseUrl,
    #[error("invalid DATABASE_URL: {0}")]
    DatabaseUrl(#[from] haven_db::pool::InvalidDatabaseUrl),
    #[error("database migration failed (SYS_001): {0}")]
    Migration(#[source] MigrationError),
    #[error("PHI encryption cannot start (SYS_003): {0}")]
    Phi(#[source] haven_phi::PhiError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

impl StartupError {
    /// The registry code operators search the logs for.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Secrets(_) => "SYS_002",
            Self::Migration(_) | Self::NoDatabaseUrl | Self::DatabaseUrl(_) => "SYS_001",
            Self::Bind { .. } | Self::Auth(_) | Self::Phi(_) => "SYS_003",
        }
    }
}

pub struct Application {
    listener: TcpListener,
    /// The private Prometheus listener (METRICS_PORT), when configured.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    /// Stops background tasks (the secrets refresh) when the server stops.
    background: tokio::sync::watch::Sender<bool>,
    /// Seals audit events into each tenant's hash chain; stopped through `background`.
    sealer: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Connects, migrates (unless disabled), binds the listener (port 0 picks a free one).
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let config = Arc::new(config);
        let (background, stop_background) = tokio::sync::watch::channel(false);
        // Secrets first: the database URL may be one of them.
        let secrets = crate::secrets::load(&config, stop_background).await?;
        let url = crate::secrets::resolve_database_url(&secrets, &config.database)
            .ok_or(StartupError::NoDatabaseUrl)?;
        if config.database.run_migrations_on_start {
            migrate_with_retry(
                &url,
                config.database.connect_retry,
                config.database.acquire_timeout,
            )
            .await?;
        }
        let pool = haven_db::connect_pool(&url, &pool_settings(&config))?;
        if config.is_production() {
            warn_if_superuser(&pool).await;
        }
        if let Some(external_id) = &config.dev_tenant_external_id {
            ensure_dev_tenant(&pool, external_id).await;
        }
        // Every replica runs one: a per-tenant advisory lock keeps concurrent sealers apart.
        let sealer = haven_db::audit_chain::spawn_sealer(
            pool.clone(),
            Duration::from_secs(1),
            background.subscribe(),
            crate::http::metrics::audit_events_sealed,
        );
        let address = SocketAddr::new(config.bind_address, config.port);
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| StartupError::Bind { address, source })?;
        let metrics_listener = match config.metrics {
            Some(metrics) => {
                let address = SocketAddr::new(metrics.bind_address, metrics.port);
                let listener = TcpListener::bind(address)
                    .await
                    .map_err(|source| StartupError::Bind { address, source })?;
                Some(listener)
            }
            None => None,
        };
        // Never blocks on the IdP: discovery retries in the background, and readiness does not
        // depend on it (an IdP outage must not block deploys).
        let oidc = match &config.auth {
            Some(settings) => {
                Some(crate::auth::Oidc::start(settings.clone()).map_err(StartupError::Auth)?)
            }
            None => None,
        };
        // No KMS call here: keys are unwrapped on each tenant's first request.
        let secret_master_key = secrets
            .current()
            .extra
            .get(haven_phi::LOCAL_MASTER_KEY)
            .cloned();
        let phi = haven_phi::Phi::from_settings(&config.phi, secret_master_key.as_ref())
            .await
            .map_err(StartupError::Phi)?
            .map(Arc::new);
        // Builds the client only (credentials resolve lazily): no call to the store at start,
        // so a storage outage never blocks a deploy.
        let storage = match &config.storage {
            Some(settings) => {
                let storage = haven_storage::Storage::new(settings.clone()).await;
                Some(Arc::new(crate::storage::ContentStore::new(storage)))
            }
            None => None,
        };
        let state = AppState::new(config.clone(), pool, secrets, oidc, phi, storage);
        // One LISTEN connection per replica; stopped through `background`. Not awaited at
        // start and not part of readiness: the cache TTLs cover the time it is down.
        crate::invalidation::spawn(
            state.pool.clone(),
            crate::invalidation::Targets {
                identity: state.identity.clone(),
                oidc: state.oidc.clone(),
                phi: state.phi.clone(),
            },
            background.subscribe(),
        );
        Ok(Self {
            listener,
            metrics_listener,
            state,
            background,
            sealer,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The metrics listener's port, when METRICS_PORT is set (0 there picks a free one).
    pub fn metrics_port(&self) -> Option<u16> {
        let listener = self.metrics_listener.as_ref()?;
        listener.local_addr().ok().map(|a| a.port())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM or SIGINT.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let signal = shutdown_signal();
        self.run_until(signal).await
    }

    /// Serves until `signal` completes; then reports unready, stops accepting (new connections
    /// are refused), lets in-flight requests finish within the grace period and returns.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let grace = self.state.config.shutdown_grace;
        let header_read_timeout = self.state.config.limits.header_read_timeout;
        let readiness = self.state.readiness.clone();
        let pool = self.state.pool.clone();
        let background = self.background;
        let sealer = self.sealer;
        let private = match self.metrics_listener {
            Some(listener) => {
                let handle = crate::http::metrics::install();
                let upkeep = crate::http::metrics::spawn_upkeep(handle.clone());
                let routes = crate::http::metrics::router(handle, self.state.clone());
                tracing::info!(port = listener.local_addr()?.port(), "metrics listening");
                Some((listener, routes, upkeep))
            }
            None => None,
        };
        let app = router(self.state);
        tracing::info!(port = self.listener.local_addr()?.port(), "listening");
        let graceful = GracefulShutdown::new();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let upkeep = {
            let (metrics_listener, upkeep) = match private {
                Some((listener, routes, upkeep)) => (Some((listener, routes)), Some(upkeep)),
                None => (None, None),
            };
            let public = server::accept_until(
                self.listener,
                app,
                header_read_timeout,
                &graceful,
                stop_rx.clone(),
            );
            let metrics = async {
                if let Some((listener, routes)) = metrics_listener {
                    server::accept_until(listener, routes, header_read_timeout, &graceful, stop_rx)
                        .await;
                }
            };
            let mut accepting = std::pin::pin!(futures::future::join(public, metrics));
            let accepting_ended = tokio::select! {
                _ = &mut accepting => true,
                () = signal => false,
            };
            tracing::info!(
                grace_seconds = grace.as_secs(),
                "shutdown signal received: draining"
            );
            readiness.begin_shutdown();
            let _ = stop_tx.send(true);
            if !accepting_ended {
                accepting.await;
            }
            upkeep
        };
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("grace period over: in-flight requests dropped");
        }
        if let Some(upkeep) = upkeep {
            upkeep.abort();
        }
        let _ = background.send(true);
        // The sealer's last round seals what was just recorded, before the pool closes.
        let _ = tokio::time::timeout(Duration::from_secs(5), sealer).await;
        pool.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// A superuser login can leave row-level security from inside a tenant transaction (`RESET
/// ROLE`); production should connect as the login `haven db create-runtime-login` makes.
async fn warn_if_superuser(pool: &haven_db::PgPool) {
    let check = haven_db::runtime_login::connects_as_superuser(pool);
    if let Ok(Ok(true)) = tokio::time::timeout(Duration::from_secs(5), check).await {
        tracing::warn!(
            "the database pool connects as a superuser: row-level security is then one RESET ROLE \
             away; create a runtime login with `haven db create-runtime-login` (docs/DEPLOYMENT.md)"
        );
    }
}

fn pool_settings(config: &Config) -> PoolSettings {
    PoolSettings {
        max_connections: config.database.max_connections,
        acquire_timeout: config.database.acquire_timeout,
        statement_timeout: config.database.statement_timeout,
        ..PoolSettings::default()
    }
}

/// A database that is still starting (a fresh Railway deploy) is waited for, within a bound.
/// Each connection attempt is itself bounded by `connect_timeout`.
async fn migrate_with_retry(
    url: &SecretString,
    budget: Duration,
    connect_timeout: Duration,
) -> Result<(), StartupError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        match haven_db::migrate::run(url, connect_timeout).await {
            Ok(_) => return Ok(()),
            Err(error @ (MigrationError::Connect(_) | MigrationError::ConnectTimeout(_)))
                if started.elapsed() + delay < budget =>
            {
                tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(StartupError::Migration(error)),
        }
    }
}

/// SIGTERM or SIGINT. The handlers are registered when this is called, not when the future is
/// first polled: `run_until_stopped` calls it before anything is served, so a SIGTERM that
/// arrives right after the first ready 200 drains the service instead of killing it.
#[cfg(unix)]
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async fn received(signal: std::io::Result<Signal>) {
        match signal {
            Ok(mut signal) => {
                signal.recv().await;
            }
            // Not registered: that signal keeps its default action.
            Err(_) => std::future::pending::<()>().await,
        }
    }
    async move {
        tokio::select! {
            () = received(terminate) => {}
            () = received(interrupt) => {}
        }
    }
}

#[cfg(not(unix))]
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// DEV_TENANT_EXTERNAL_ID (development only; configuration refuses it elsewhere): the tenant is
/// created if missing. A failure is logged, not fatal: the service still starts.
async fn ensure_dev_tenant(pool: &haven_db::PgPool, external_id: &str) {
    match haven_db::tenants::admin_create_if_missing(pool, external_id, "Development tenant").await
    {
        Ok(tenant) => tracing::info!(
            tenant_id = %tenant.id,
            external_id,
            "development tenant ready"
        ),
        Err(error) => tracing::warn!(error = %error, "cannot create the development tenant"),
    }
}
