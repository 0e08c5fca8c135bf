//! Readiness: whether this replica can serve (the database answers with the expected schema,
//! secrets are loaded, no shutdown under way).
//!
//! Readiness answers within a hard bound whatever the database does, and is cached for about a
//! second behind a single-flight lock, so a storm of probes costs one database round trip a
//! second and can never exhaust the pool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use haven_db::PgPool;
use serde::Serialize;
use tokio::sync::Mutex;

/// The whole readiness answer must come back within this bound (the contract says ≤ 2 s).
const CHECK_TIMEOUT: Duration = Duration::from_millis(1500);
const CACHE_FOR: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Ok,
    Unavailable,
    NotConfigured,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Checks {
    pub database: Check,
    pub secrets: Check,
}

pub struct Readiness {
    pool: PgPool,
    expected_version: i32,
    cache: Mutex<Option<(Instant, Check)>>,
    shutting_down: AtomicBool,
}

impl Readiness {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            expected_version: haven_db::migrate::expected_version(),
            cache: Mutex::new(None),
            shutting_down: AtomicBool::new(false),
        }
    }

    /// From the first shutdown signal on, readiness answers 503 so the balancer drains us.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    pub async fn database(&self) -> Check {
        let mut cache = self.cache.lock().await;
        if let Some((at, check)) = *cache
            && at.elapsed() < CACHE_FOR
        {
            return check;
        }
        let check = self.check_database().await;
        *cache = Some((Instant::now(), check));
        check
    }

    async fn check_database(&self) -> Check {
        let probe = async {
            let mut conn = self.pool.acquire().await?;
            haven_db::migrate::applied_version(&mut conn).await
        };
        match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
            Ok(Ok(applied)) if applied >= self.expected_version => Check::Ok,
            Ok(Ok(applied)) => {
                tracing::warn!(
                    applied,
                    expected = self.expected_version,
                    "readiness: schema is behind this binary"
                );
                Check::Unavailable
            }
            // Driver text goes to the log, never to the response.
            Ok(Err(error)) => {
                tracing::warn!(error = %error, "readiness: database check failed");
                Check::Unavailable
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = CHECK_TIMEOUT.as_millis() as u64,
                    "readiness: database check timed out"
                );
                Check::Unavailable
            }
        }
    }
}
