//! Who is calling: the bearer token verified, its tenant resolved, its user seen. Auth runs as a
//! route layer on the protected routes (unknown paths stay 404); handlers take [`Principal`].

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use haven_db::ids::{TenantId, UserId};
use haven_db::tenants::Tenant;
use serde::Serialize;
use time::OffsetDateTime;

use crate::auth::{AuthError, VerifiedToken};
use crate::cache::IdentityCaches;
use crate::error::{ApiError, codes};
use crate::state::AppState;

/// The roles this service knows. Token role names are matched case-insensitively; unknown
/// names are ignored, never fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything in the tenant, including the user list and the audit trail.
    Admin,
    /// Reads the audit trail.
    Auditor,
    /// Reads and writes documents.
    Editor,
    /// Reads documents.
    Viewer,
    /// Emergency ("break-glass") access: reads documents when the normal roles would not allow
    /// it. Every audited action of such a caller is flagged `emergency` and every request is
    /// logged at warn, so each use can be reviewed.
    BreakGlass,
}

impl Role {
    fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "admin" => Some(Self::Admin),
            "auditor" => Some(Self::Auditor),
            "editor" => Some(Self::Editor),
            "viewer" | "reader" => Some(Self::Viewer),
            "break_glass" | "break-glass" | "emergency_access" => Some(Self::BreakGlass),
            _ => None,
        }
    }
}

/// The verified caller, as every handler sees it.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant_id: TenantId,
    pub tenant_external_id: String,
    pub user_id: UserId,
    pub subject: String,
    pub roles: Vec<Role>,
    pub expires_at: OffsetDateTime,
}

impl Principal {
    pub fn is_break_glass(&self) -> bool {
        self.roles.contains(&Role::BreakGlass)
    }

    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.roles.iter().any(|r| roles.contains(r))
    }

    /// 403 AUTH_009 unless the caller holds one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.has_any(roles) {
            Ok(())
        } else {
            Err(ApiError::new(codes::AUTH_009))
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        // Set by `require_auth`; a handler that takes a Principal on an unprotected route is a
        // wiring bug, answered as one.
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "Principal extracted on a route without require_auth"
            ))
        })
    }
}

/// Maps a token-validation failure to the envelope, logging the reason once (never the token).
pub fn auth_error(error: AuthError) -> ApiError {
    tracing::info!(
        reason = error.reason(),
        error_code = error.code(),
        "authentication failed"
    );
    let code = codes::by_code(error.code()).unwrap_or(codes::SYS_003);
    let api = ApiError::new(code).with_message(error.to_string());
    match error.retry_after() {
        Some(seconds) => api.with_retry_after(seconds),
        None => api,
    }
}

fn bearer(parts_or_request: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    let value = parts_or_request
        .get(AUTHORIZATION)
        .ok_or_else(|| auth_error(AuthError::MissingToken))?
        .to_str()
        .map_err(|_| auth_error(AuthError::NotBearer))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| auth_error(AuthError::NotBearer))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(auth_error(AuthError::NotBearer));
    }
    Ok(token.trim())
}

/// Route layer: verifies the token, resolves tenant and user, records them on the request span
/// and hands the [`Principal`] to the handler.
pub async fn require_auth(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let principal = authenticate(&state, request.headers()).await?;
    let span = tracing::Span::current();
    span.record("tenant_id", tracing::field::display(principal.tenant_id));
    span.record("user_id", tracing::field::display(principal.user_id));
    if principal.is_break_glass() {
        tracing::warn!(emergency = true, "break-glass access");
    }
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

async fn authenticate(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Principal, ApiError> {
    principal_for_token(state, bearer(headers)?).await
}

/// The caller an access token stands for: validated, tenant active, user known (created on
/// first sight). Also used by the login routes on the token the IdP just issued.
pub async fn principal_for_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let oidc = state.oidc.as_ref().ok_or_else(|| {
        ApiError::new(codes::AUTH_008).with_message("No identity provider is configured")
    })?;
    let verified = oidc.validator().validate(token).await.map_err(auth_error)?;
    principal_for_verified(state, verified).await
}

/// The caller a validated token stands for: tenant active, user known (created on first sight).
pub async fn principal_for_verified(
    state: &AppState,
    verified: VerifiedToken,
) -> Result<Principal, ApiError> {
    resolve_verified(state, verified)
        .await
        .map_err(|refused| refused.error)
}

/// A caller refused while being resolved, with where the refusal belongs on record: the tenant
/// once it was found (a suspended tenant, a removed or disabled user), and the user once known.
#[derive(Debug)]
pub struct Refused {
    pub error: ApiError,
    pub tenant: Option<TenantId>,
    pub user: Option<UserId>,
}

impl From<ApiError> for Refused {
    fn from(error: ApiError) -> Self {
        Self {
            error,
            tenant: None,
            user: None,
        }
    }
}

/// [`principal_for_verified`], keeping the tenant and user of a refusal (for the login routes,
/// which record it).
pub async fn resolve_verified(
    state: &AppState,
    verified: VerifiedToken,
) -> Result<Principal, Refused> {
    let tenant = resolve_tenant(state, &verified.tenant_external_id).await?;
    let refused = |error, user| Refused {
        error,
        tenant: Some(tenant.id),
        user,
    };
    if !tenant.is_active() {
        tracing::info!(
            reason = "suspended_tenant",
            error_code = codes::TENANT_002.code,
            "authentication failed"
        );
        return Err(refused(ApiError::new(codes::TENANT_002), None));
    }
    let user_id = resolve_user(state, tenant.id, &verified.subject)
        .await
        .map_err(|(error, user)| refused(error, user))?;
    let roles = verified
        .roles
        .iter()
        .filter_map(|r| Role::parse(r))
        .collect();
    Ok(Principal {
        tenant_id: tenant.id,
        tenant_external_id: tenant.external_id,
        user_id,
        subject: verified.subject,
        roles,
        expires_at: verified.expires_at,
    })
}

/// The tenant of `external_id`, suspended or not (cached).
async fn resolve_tenant(state: &AppState, external_id: &str) -> Result<Tenant, ApiError> {
    let caches: &Arc<IdentityCaches> = &state.identity;
    if let Some(tenant) = caches.tenants.get(&external_id.to_owned()) {
        return Ok(tenant);
    }
    // Boxed: the lookup's future is kilobytes, and inline it would be moved with this one on
    // every request, cache hit or not (docs/PERFORMANCE.md, "Large futures").
    let found = Box::pin(haven_db::tenants::lookup_by_external_id_unscoped(
        &state.pool,
        external_id,
    ))
    .await?;
    let tenant = found.ok_or_else(|| {
        tracing::info!(
            reason = "unknown_tenant",
            error_code = codes::TENANT_001.code,
            "authentication failed"
        );
        ApiError::new(codes::TENANT_001)
    })?;
    caches
        .tenants
        .insert(external_id.to_owned(), tenant.clone());
    Ok(tenant)
}

/// First sight of a subject creates its user row (in the tenant's own transaction). A refusal
/// names the user it refused.
async fn resolve_user(
    state: &AppState,
    tenant: TenantId,
    subject: &str,
) -> Result<UserId, (ApiError, Option<UserId>)> {
    let key = (tenant, subject.to_owned());
    if let Some(user) = state.identity.users.get(&key) {
        return Ok(user);
    }
    let seen = async {
        let mut tx = haven_db::tenant::TenantTx::begin(&state.pool, tenant).await?;
        let user = haven_db::users::upsert_seen(&mut tx, subject).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(user)
    };
    // Boxed for the reason resolve_tenant's lookup is.
    let user = Box::pin(seen).await.map_err(|error| (error.into(), None))?;
    if user.deleted_at.is_some() {
        let removed = ApiError::new(codes::AUTH_009)
            .with_message("This user has been removed from the tenant");
        return Err((removed, Some(user.id)));
    }
    if user.disabled_at.is_some() {
        tracing::info!(
            reason = "disabled_user",
            error_code = codes::USER_001.code,
            "authentication failed"
        );
        return Err((ApiError::new(codes::USER_001), Some(user.id)));
    }
    state.identity.users.insert(key, user.id);
    Ok(user.id)
}
