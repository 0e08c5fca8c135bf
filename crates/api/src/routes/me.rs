//! The caller and the caller's tenant.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, codes};
use crate::openapi::ErrorEnvelope;
use crate::principal::Role;
use crate::scope::{Access, Scope};

#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    pub user_id: uuid::Uuid,
    /// The token's `sub`.
    pub subject: String,
    pub tenant_id: uuid::Uuid,
    /// The tenant claim's value.
    pub tenant_external_id: String,
    /// The roles this service recognised in the token.
    pub roles: Vec<Role>,
    /// When the access token expires (Unix seconds).
    pub expires_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct TenantResponse {
    pub id: uuid::Uuid,
    pub external_id: String,
    pub name: String,
    /// `active` or `suspended`.
    pub status: String,
}

/// The caller: user, subject, tenant, roles and token expiry. The first request of a new
/// subject creates its user row.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity", operation_id = "get_me",
    security(("bearer" = [])),
    responses(
        (status = 200, body = MeResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Tenant claim missing (AUTH_005) or malformed (AUTH_007), tenant unknown (TENANT_001) or suspended (TENANT_002)", body = ErrorEnvelope),
        (status = 503, description = "Identity provider unavailable (AUTH_008)", body = ErrorEnvelope),
    ))]
pub async fn me(scope: Scope) -> Json<MeResponse> {
    let principal = scope.principal().clone();
    Json(MeResponse {
        user_id: principal.user_id.as_uuid(),
        subject: principal.subject,
        tenant_id: principal.tenant_id.as_uuid(),
        tenant_external_id: principal.tenant_external_id,
        roles: principal.roles,
        expires_at: principal.expires_at.unix_timestamp(),
    })
}

/// The caller's tenant (any role; recorded as `tenant.read`).
#[utoipa::path(get, path = "/api/v1/tenant", tag = "identity", operation_id = "get_tenant",
    security(("bearer" = [])),
    responses(
        (status = 200, body = TenantResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Tenant unknown (TENANT_001) or suspended (TENANT_002)", body = ErrorEnvelope),
    ))]
pub async fn tenant(scope: Scope) -> Result<Json<TenantResponse>, ApiError> {
    let tenant_id = scope.principal().tenant_id.to_string();
    let mut tx = scope
        .allow(Access::new("tenant.read", "tenant").on(tenant_id))
        .begin()
        .await?;
    let tenant = haven_db::tenants::get(&mut tx).await?;
    tx.commit().await?;
    let tenant = tenant.ok_or_else(|| ApiError::new(codes::TENANT_001))?;
    let status = if tenant.is_active() {
        "active"
    } else {
        "suspended"
    };
    Ok(Json(TenantResponse {
        id: tenant.id.as_uuid(),
        external_id: tenant.external_id,
        name: tenant.name,
        status: status.to_owned(),
    }))
}
