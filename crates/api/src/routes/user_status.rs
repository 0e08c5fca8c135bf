//! `POST /api/v1/users/{id}/disable|enable`: an admin disables or enables a user of the tenant;
//! every replica refuses a disabled user's requests (403 USER_001) within a second.

use axum::Json;
use axum::extract::State;
use haven_db::audit::AuditOutcome;
use haven_db::ids::UserId;
use haven_db::tenant::TenantTx;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::audit_log::{Access, AuditContext};
use crate::error::ApiError;
use crate::openapi::ErrorEnvelope;
use crate::principal::{Principal, Role};
use crate::routes::params::RawId;
use crate::state::AppState;

const RESOURCE: &str = "user";

/// A user's state after a disable or enable.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserStatusResponse {
    pub id: uuid::Uuid,
    /// The token's `sub`.
    pub subject: String,
    /// When the user was disabled; null while the user is enabled.
    #[serde(with = "time::serde::rfc3339::option")]
    pub disabled_at: Option<OffsetDateTime>,
}

/// Disables a user of the caller's tenant (admin only): its requests get 403 USER_001 on every
/// replica within a second, until it is enabled again. Idempotent.
#[utoipa::path(post, path = "/users/{id}/disable", tag = "users", operation_id = "disable_user",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user id")),
    responses(
        (status = 200, body = UserStatusResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Only admins may disable users (AUTH_009)", body = ErrorEnvelope),
        (status = 404, description = "No such user in the caller's tenant (RES_001)", body = ErrorEnvelope),
    ))]
pub async fn disable_user(
    State(state): State<AppState>,
    principal: Principal,
    audit: AuditContext,
    RawId(raw): RawId,
) -> Result<Json<UserStatusResponse>, ApiError> {
    set_disabled(&state, &principal, &audit, &raw, true).await
}

/// Enables a disabled user of the caller's tenant again (admin only). Idempotent.
#[utoipa::path(post, path = "/users/{id}/enable", tag = "users", operation_id = "enable_user",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user id")),
    responses(
        (status = 200, body = UserStatusResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Only admins may enable users (AUTH_009)", body = ErrorEnvelope),
        (status = 404, description = "No such user in the caller's tenant (RES_001)", body = ErrorEnvelope),
    ))]
pub async fn enable_user(
    State(state): State<AppState>,
    principal: Principal,
    audit: AuditContext,
    RawId(raw): RawId,
) -> Result<Json<UserStatusResponse>, ApiError> {
    set_disabled(&state, &principal, &audit, &raw, false).await
}

async fn set_disabled(
    state: &AppState,
    principal: &Principal,
    audit: &AuditContext,
    raw: &str,
    disabled: bool,
) -> Result<Json<UserStatusResponse>, ApiError> {
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    let access = Access::new(action, RESOURCE).on(raw);
    audit
        .require_any(state, principal, &[Role::Admin], access)
        .await?;
    let Ok(id) = raw.parse::<UserId>() else {
        return Err(audit.not_found(state, principal, access).await);
    };
    let mut tx = TenantTx::begin(&state.pool, principal.tenant_id).await?;
    // The change, its announcement to every replica and its audit event commit together.
    let user = haven_db::users::set_disabled(&mut tx, id, disabled).await?;
    let outcome = match user {
        Some(_) => AuditOutcome::Success,
        None => AuditOutcome::Denied,
    };
    let mut event = audit.event(principal, access, outcome);
    event.changed_fields = user.as_ref().map(|_| &["disabled_at"][..]);
    haven_db::audit::record(&mut tx, &event).await?;
    tx.commit().await?;
    let user = user.ok_or_else(|| ApiError::new(crate::error::codes::RES_001))?;
    Ok(Json(UserStatusResponse {
        id: user.id.as_uuid(),
        subject: user.subject,
        disabled_at: user.disabled_at,
    }))
}
