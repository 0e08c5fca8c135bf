//! Start-up and shutdown: `Application::build` connects, migrates and binds; tests call it too.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haven_db::{MigrationError, PoolSettings};
use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::config::Config;
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
            Self::Bind { .. } | Self::Auth(_) => "SYS_003",
        }
    }
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// Stops background tasks (the secrets refresh) when the server stops.
    background: tokio::sync::watch::Sender<bool>,
}

impl Application {
    /// Connects, migrates (unless disabled), binds the listener (port 0 picks a free one).
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let config = Arc::new(config);
        let (background, stop_background) = tokio::sync::watch::channel(false);
        // Secrets first: the database URL may be one of them.
        let secrets = crate::secrets::load(&config, stop_background).await?;
        let url = secrets
            .current()
            .database_url
            .clone()
            .or_else(|| config.database.url.clone())
            .ok_or(StartupError::NoDatabaseUrl)?;
        if config.database.run_migrations_on_start {
            migrate_with_retry(&url, config.database.connect_retry).await?;
        }
        let pool = haven_db::connect_pool(&url, &pool_settings(&config))?;
        let address = SocketAddr::new(config.bind_address, config.port);
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| StartupError::Bind { address, source })?;
        // Never blocks on the IdP: discovery retries in the background, and readiness does not
        // depend on it (an IdP outage must not block deploys).
        let oidc = match config.auth_settings() {
            Some(settings) => Some(crate::auth::Oidc::start(settings).map_err(StartupError::Auth)?),
            None => None,
        };
        let state = AppState::new(config, pool, secrets, oidc);
        Ok(Self {
            listener,
            state,
            background,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM or SIGINT.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes; then stops accepting, reports unready, lets in-flight
    /// requests finish within the grace period and returns.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let grace = self.state.config.shutdown_grace;
        let readiness = self.state.readiness.clone();
        let pool = self.state.pool.clone();
        let background = self.background;
        let app = router(self.state);
        tracing::info!(port = self.listener.local_addr()?.port(), "listening");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop_rx.await;
        });
        let mut server = std::pin::pin!(server.into_future());
        tokio::select! {
            result = &mut server => return result,
            () = signal => {}
        }
        tracing::info!(
            grace_seconds = grace.as_secs(),
            "shutdown signal received: draining"
        );
        readiness.begin_shutdown();
        let _ = stop_tx.send(());
        let result = match tokio::time::timeout(grace, server).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!("grace period over: in-flight requests dropped");
                Ok(())
            }
        };
        let _ = background.send(true);
        pool.close().await;
        tracing::info!("stopped");
        result
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
async fn migrate_with_retry(url: &SecretString, budget: Duration) -> Result<(), StartupError> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        match haven_db::migrate::run(url).await {
            Ok(_) => return Ok(()),
            Err(MigrationError::Connect(error)) if started.elapsed() + delay < budget => {
                tracing::warn!(error = %error, retry_in_ms = delay.as_millis() as u64, "database not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(StartupError::Migration(error)),
        }
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
