//! Liveness and readiness probes (the readiness check itself is `crate::readiness`).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use crate::error::{ApiError, codes};
use crate::readiness::{Check, Checks};
use crate::state::AppState;

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
    pub status: &'static str,
    /// Unix time in seconds.
    pub timestamp: u64,
    /// The running build's version (the crate version, as `haven --version` prints it).
    #[schema(example = "0.1.0")]
    pub version: &'static str,
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
    /// The running build's version.
    #[schema(example = "0.1.0")]
    pub version: String,
}

/// Liveness: the process answers. Touches no dependency.
#[utoipa::path(get, path = "/api/v1/health/live", tag = "health", operation_id = "health_live",
    responses((status = 200, description = "The process is alive", body = LiveResponse)))]
pub async fn live() -> Response {
    // Typed, not `json!`: no map built per probe (the same bytes, fields in the same order).
    Json(LiveResponse {
        status: "ok",
        timestamp: unix_now(),
        version: crate::VERSION,
    })
    .into_response()
}

/// The probe paths other stacks use (`/health`, `/api/v1/health`): not aliases, so that a
/// probe configured for another service's semantics fails loudly at the first deploy instead of
/// meaning liveness on one platform and readiness on another. The 404 names the two probes.
pub const OTHER_STACKS_PROBES: &[&str] = &["/health", "/api/v1/health"];

/// The 404 for [`OTHER_STACKS_PROBES`], with the paths to use instead.
pub async fn not_a_probe() -> Response {
    ApiError::new(codes::RES_001)
        .with_message(
            "No probe here: use /api/v1/health/live (liveness) or /api/v1/health/ready (readiness)",
        )
        .into_response()
}

/// Readiness: the database answers with the expected schema and secrets are loaded. Answers
/// within 2 s whatever the database does; cached for about a second.
#[utoipa::path(get, path = "/api/v1/health/ready", tag = "health", operation_id = "health_ready",
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
        None => Json(json!({
            "status": "ready",
            "checks": checks,
            "timestamp": unix_now(),
            "version": crate::VERSION,
        }))
        .into_response(),
        Some(code) => {
            let mut extra = serde_json::Map::new();
            extra.insert("status".into(), json!("unavailable"));
            extra.insert("checks".into(), json!(checks));
            extra.insert("timestamp".into(), json!(unix_now()));
            extra.insert("version".into(), json!(crate::VERSION));
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
