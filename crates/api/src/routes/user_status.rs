//! `POST /api/v1/users/{id}/disable|enable`: an admin disables or enables a user of the tenant;
//! every replica refuses a disabled user's requests (403 USER_001) within a second.

use axum::Json;
use haven_db::ids::UserId;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::error::{ApiError, codes};
use crate::openapi::ErrorEnvelope;
use crate::principal::Role;
use crate::routes::params::RawId;
use crate::scope::{Access, Scope};

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
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "users", operation_id = "disable_user",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user id")),
    responses(
        (status = 200, body = UserStatusResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Only admins may disable users (AUTH_009)", body = ErrorEnvelope),
        (status = 404, description = "No such user in the caller's tenant (RES_001)", body = ErrorEnvelope),
    ))]
pub async fn disable_user(
    scope: Scope,
    RawId(raw): RawId,
) -> Result<Json<UserStatusResponse>, ApiError> {
    set_disabled(&scope, &raw, true).await
}

/// Enables a disabled user of the caller's tenant again (admin only). Idempotent.
#[utoipa::path(post, path = "/api/v1/users/{id}/enable", tag = "users", operation_id = "enable_user",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user id")),
    responses(
        (status = 200, body = UserStatusResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Only admins may enable users (AUTH_009)", body = ErrorEnvelope),
        (status = 404, description = "No such user in the caller's tenant (RES_001)", body = ErrorEnvelope),
    ))]
pub async fn enable_user(
    scope: Scope,
    RawId(raw): RawId,
) -> Result<Json<UserStatusResponse>, ApiError> {
    set_disabled(&scope, &raw, false).await
}

async fn set_disabled(
    scope: &Scope,
    raw: &str,
    disabled: bool,
) -> Result<Json<UserStatusResponse>, ApiError> {
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    let mut permit = scope
        .require(&[Role::Admin], Access::new(action, RESOURCE).on(raw))
        .await?;
    let id = permit.id::<UserId>(raw).await?;
    let mut tx = permit.begin().await?;
    // The change, its announcement to every replica and its audit event commit together.
    let user = haven_db::users::set_disabled(&mut tx, id, disabled).await?;
    match &user {
        Some(_) => tx.audit_changed(&["disabled_at"]),
        // Missing or another tenant's: recorded as refused.
        None => tx.deny(codes::RES_001.code),
    }
    tx.commit().await?;
    let user = user.ok_or_else(|| ApiError::new(codes::RES_001))?;
    Ok(Json(UserStatusResponse {
        id: user.id.as_uuid(),
        subject: user.subject,
        disabled_at: user.disabled_at,
    }))
}
