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
use axum::http::StatusCode;
use haven_db::documents::{self, Document};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::openapi::{Denied, NotFound};
use crate::principal::Role;
use crate::routes::params::RawId;
use crate::scope::{Access, Scope, found, settle_delete};

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

/// A document's metadata. Its file, when it has one, is behind `/documents/{id}/content`;
/// `storage_location` is the object key the server chose (read-only).
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
    /// The patient it belongs to, if any.
    pub patient_id: Option<uuid::Uuid>,
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
            patient_id: d.patient_id.map(|p| p.as_uuid()),
            created_by: d.created_by.as_uuid(),
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// Fetches one document of the caller's tenant (viewer, editor or admin).
#[utoipa::path(get, path = "/api/v1/documents/{id}", tag = "documents", operation_id = "get_document",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The document id")),
    responses(
        (status = 200, body = DocumentResponse),
        Denied,
        NotFound,
    ))]
pub async fn get_document(
    scope: Scope,
    RawId(raw): RawId,
) -> Result<Json<DocumentResponse>, ApiError> {
    let access = Access::new("document.read", RESOURCE);
    let (permit, id) = scope.require_id(READERS, access, &raw).await?;
    let (mut tx, phi) = permit.begin_phi().await?;
    // The read and its audit event in one statement; a miss is recorded as denied.
    let document = documents::get(&mut tx, &phi, id).await?;
    tx.commit().await?;
    Ok(Json(found(document)?.into()))
}

/// Soft-deletes a document (editor or admin): it is gone from reads and lists afterwards.
#[utoipa::path(delete, path = "/api/v1/documents/{id}", tag = "documents", operation_id = "delete_document",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The document id")),
    responses(
        (status = 204, description = "Deleted"),
        Denied,
        NotFound,
    ))]
pub async fn delete_document(scope: Scope, RawId(raw): RawId) -> Result<StatusCode, ApiError> {
    let access = Access::new("document.delete", RESOURCE);
    let (permit, id) = scope.require_id(WRITERS, access, &raw).await?;
    let mut tx = permit.begin().await?;
    let deleted = documents::soft_delete(&mut tx, id).await?;
    settle_delete(tx, deleted).await
}
