//! Liveness and readiness probes.
//!
//! Readiness answers within a hard bound whatever the database does, and is cached for about a
//! second behind a single-flight lock, so a storm of probes costs one database round trip a
//! second and can never exhaust the pool.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use haven_db::PgPool;
use serde::Serialize;
use serde_json::json;
use tokio::sync::Mutex;

use crate::error::{ApiError, codes};
use crate::state::AppState;

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
    /// Reported, never failing readiness: see docs/ARCHITECTURE.md ("Readiness and storage").
    pub storage: Check,
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

    async fn database(&self) -> Check {
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

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The liveness answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LiveResponse {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: String,
    /// Unix time in seconds.
    pub timestamp: u64,
}

/// The readiness answer; a 503 adds the error envelope's `error` beside these fields.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReadyResponse {
    /// `ready`, or `unavailable` with a 503.
    #[schema(example = "ready")]
    pub status: String,
    pub checks: Checks,
    /// Unix time in seconds.
    pub timestamp: u64,
}

/// Liveness: the process answers. Touches no dependency.
#[utoipa::path(get, path = "/health/live", tag = "health", operation_id = "health_live",
    responses((status = 200, description = "The process is alive", body = LiveResponse)))]
pub async fn live() -> Response {
    Json(json!({"status": "ok", "timestamp": unix_now()})).into_response()
}

/// Readiness: the database answers with the expected schema and secrets are loaded. Answers
/// within 2 s whatever the database does; cached for about a second.
#[utoipa::path(get, path = "/health/ready", tag = "health", operation_id = "health_ready",
    responses(
        (status = 200, description = "Ready to serve", body = ReadyResponse),
        (status = 503, description = "A dependency is unavailable or the service is shutting down \
            (SYS_001 database, SYS_002 secrets, SYS_004 shutting down)", body = ReadyResponse),
    ))]
pub async fn ready(State(state): State<AppState>) -> Response {
    // Side by side: the storage probe's own 1 s bound keeps the answer within 2 s.
    let (database, storage) = tokio::join!(state.readiness.database(), state.storage_check());
    let checks = Checks {
        database,
        secrets: state.secrets_check(),
        storage,
    };
    let shutting_down = state.readiness.is_shutting_down();
    let failing = [
        (checks.database, codes::SYS_001),
        (checks.secrets, codes::SYS_002),
    ]
    .into_iter()
    .find(|(check, _)| *check == Check::Unavailable)
    .map(|(_, code)| code)
    .or(shutting_down.then_some(codes::SYS_004));
    match failing {
        None => Json(json!({"status": "ready", "checks": checks, "timestamp": unix_now()}))
            .into_response(),
        Some(code) => {
            let mut extra = serde_json::Map::new();
            extra.insert("status".into(), json!("unavailable"));
            extra.insert("checks".into(), json!(checks));
            extra.insert("timestamp".into(), json!(unix_now()));
            let message = if shutting_down {
                "Service is shutting down"
            } else {
                code.message
            };
            ApiError::new(code)
                .with_message(message)
                .with_extra(extra)
                .into_response()
        }
    }
}
