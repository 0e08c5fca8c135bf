//! `/api/v1/documents`: the response shapes, read and soft delete here; list and writes in
//! submodules. Every access, and every refused attempt, leaves one audit event.

mod body;
pub mod content;
pub mod list;
mod upload;
mod validate;
pub mod write;

pub use body::{CreateDocument, UpdateDocument};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use haven_db::audit::{AuditOutcome, NewAuditEvent};
use haven_db::documents::{self, Document};
use haven_db::ids::DocumentId;
use haven_db::tenant::TenantTx;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::audit_log::{Access, AuditContext};
use crate::error::ApiError;
use crate::openapi::ErrorEnvelope;
use crate::principal::{Principal, Role};
use crate::routes::params::RawId;
use crate::state::AppState;

/// The audit `resource_type` of documents.
pub const RESOURCE: &str = "document";
/// Who may read documents.
pub const READERS: &[Role] = &[Role::Viewer, Role::Editor, Role::Admin, Role::BreakGlass];
/// Who may create, change and delete documents.
pub const WRITERS: &[Role] = &[Role::Editor, Role::Admin];

/// Where a document is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DocumentStatus {
    Pending,
    Processing,
    Ready,
    Failed,
    Archived,
}

impl From<DocumentStatus> for documents::DocumentStatus {
    fn from(status: DocumentStatus) -> Self {
        match status {
            DocumentStatus::Pending => Self::Pending,
            DocumentStatus::Processing => Self::Processing,
            DocumentStatus::Ready => Self::Ready,
            DocumentStatus::Failed => Self::Failed,
            DocumentStatus::Archived => Self::Archived,
        }
    }
}

impl From<documents::DocumentStatus> for DocumentStatus {
    fn from(status: documents::DocumentStatus) -> Self {
        match status {
            documents::DocumentStatus::Pending => Self::Pending,
            documents::DocumentStatus::Processing => Self::Processing,
            documents::DocumentStatus::Ready => Self::Ready,
            documents::DocumentStatus::Failed => Self::Failed,
            documents::DocumentStatus::Archived => Self::Archived,
        }
    }
}

/// A document's metadata (the file itself lives at `storage_location`).
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentResponse {
    pub id: uuid::Uuid,
    /// Always the caller's own tenant.
    pub tenant_id: uuid::Uuid,
    pub title: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub status: DocumentStatus,
    /// A JSON object of the client's choosing.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub storage_location: Option<String>,
    /// The user who created it.
    pub created_by: uuid::Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Document> for DocumentResponse {
    fn from(d: Document) -> Self {
        Self {
            id: d.id.as_uuid(),
            tenant_id: d.tenant_id.as_uuid(),
            title: d.title,
            filename: d.filename,
            content_type: d.content_type,
            size_bytes: d.size_bytes,
            status: d.status.into(),
            metadata: d.metadata,
            storage_location: d.storage_location,
            created_by: d.created_by.as_uuid(),
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// The document id in the path, or the refusal for a segment that is not one: 404 like any id
/// this tenant does not have, and audited as such.
async fn document_id(
    state: &AppState,
    principal: &Principal,
    audit: &AuditContext,
    action: &str,
    raw: &str,
) -> Result<DocumentId, ApiError> {
    match raw.parse::<DocumentId>() {
        Ok(id) => Ok(id),
        Err(_) => Err(audit
            .not_found(state, principal, Access::new(action, RESOURCE).on(raw))
            .await),
    }
}

/// Fetches one document of the caller's tenant (viewer, editor or admin).
#[utoipa::path(get, path = "/documents/{id}", tag = "documents", operation_id = "get_document",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The document id")),
    responses(
        (status = 200, body = DocumentResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "The caller's roles do not allow reading documents (AUTH_009)", body = ErrorEnvelope),
        (status = 404, description = "No such document in the caller's tenant (RES_001)", body = ErrorEnvelope),
    ))]
pub async fn get_document(
    State(state): State<AppState>,
    principal: Principal,
    audit: AuditContext,
    RawId(raw): RawId,
) -> Result<Json<DocumentResponse>, ApiError> {
    const ACTION: &str = "document.read";
    let access = Access::new(ACTION, RESOURCE).on(&raw);
    audit
        .require_any(&state, &principal, READERS, access)
        .await?;
    let id = document_id(&state, &principal, &audit, ACTION, &raw).await?;
    let resource_id = id.to_string();
    let event: NewAuditEvent<'_> = audit.event(
        &principal,
        Access::new(ACTION, RESOURCE).on(&resource_id),
        AuditOutcome::Success,
    );
    let mut tx = TenantTx::begin(&state.pool, principal.tenant_id).await?;
    // The read and its audit event in one statement; a miss is recorded as denied.
    let found = documents::get_audited(
        &mut tx,
        principal.tenant_id,
        id,
        &event,
        AuditOutcome::Denied,
    )
    .await?;
    tx.commit().await?;
    let document = found.ok_or_else(|| ApiError::new(crate::error::codes::RES_001))?;
    Ok(Json(document.into()))
}

/// Soft-deletes a document (editor or admin): it is gone from reads and lists afterwards.
#[utoipa::path(delete, path = "/documents/{id}", tag = "documents", operation_id = "delete_document",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The document id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "The caller's roles do not allow changing documents (AUTH_009)", body = ErrorEnvelope),
        (status = 404, description = "No such document in the caller's tenant (RES_001)", body = ErrorEnvelope),
    ))]
pub async fn delete_document(
    State(state): State<AppState>,
    principal: Principal,
    audit: AuditContext,
    RawId(raw): RawId,
) -> Result<StatusCode, ApiError> {
    const ACTION: &str = "document.delete";
    audit
        .require_any(
            &state,
            &principal,
            WRITERS,
            Access::new(ACTION, RESOURCE).on(&raw),
        )
        .await?;
    let id = document_id(&state, &principal, &audit, ACTION, &raw).await?;
    let resource_id = id.to_string();
    let mut tx = TenantTx::begin(&state.pool, principal.tenant_id).await?;
    let deleted = documents::soft_delete(&mut tx, principal.tenant_id, id).await?;
    let outcome = if deleted {
        AuditOutcome::Success
    } else {
        AuditOutcome::Denied
    };
    let access = Access::new(ACTION, RESOURCE).on(&resource_id);
    haven_db::audit::record(&mut tx, &audit.event(&principal, access, outcome)).await?;
    tx.commit().await?;
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(crate::error::codes::RES_001))
    }
}
