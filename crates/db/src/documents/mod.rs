//! Documents of a tenant: the row type, reads and soft delete here; list and writes in submodules;
//! the stored form of the PHI columns (`title`, `filename`, `metadata`) in `sealed.rs`.

pub mod content;
mod list;
pub mod purge;
mod sealed;
mod write;

pub use list::{DocumentFilter, list};
pub use write::{
    CONTENT_FIELDS, DocumentPatch, NewDocument, NewUpload, UpdateOutcome, create, update,
};

pub use crate::idempotency::CreateOutcome;
pub use crate::patch::Updated;

use time::OffsetDateTime;

use self::sealed::StoredDocument;
use crate::fields::FieldCipher;
use crate::ids::{DocumentId, PatientId, TenantId, UserId};
use crate::tenant::TenantTx;

/// Limits the schema enforces (CHECK constraints); the API validates against the same numbers.
pub const TITLE_MAX_CHARS: usize = 500;
pub const FILENAME_MAX_CHARS: usize = 255;
pub const CONTENT_TYPE_MAX_CHARS: usize = 255;
pub const STORAGE_LOCATION_MAX_CHARS: usize = 2048;
/// Size of `metadata` as JSON text.
pub const METADATA_MAX_BYTES: usize = 65_536;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, sqlx::Type,
)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum DocumentStatus {
    Pending,
    Processing,
    Ready,
    Failed,
    Archived,
}

impl DocumentStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Processing,
        Self::Ready,
        Self::Failed,
        Self::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::Archived => "archived",
        }
    }
}

/// A document, its PHI opened.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub id: DocumentId,
    pub tenant_id: TenantId,
    pub title: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub status: DocumentStatus,
    /// Always a JSON object.
    pub metadata: serde_json::Value,
    pub storage_location: Option<String>,
    /// The patient it belongs to, a patient of the same tenant.
    pub patient_id: Option<PatientId>,
    pub created_by: UserId,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub deleted_at: Option<OffsetDateTime>,
}

macro_rules! columns {
    () => {
        "id, tenant_id, title, filename, content_type, size_bytes, status, metadata, \
         storage_location, patient_id, created_by, created_at, updated_at, deleted_at"
    };
}
pub(crate) use columns;

/// The document, unless it is missing, soft-deleted, or another tenant's (all alike: `None`).
/// The transaction's queued audit events are written in the same statement (denied on a miss).
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant(), document_id = %id))]
pub async fn get(
    tx: &mut TenantTx<'_>,
    cipher: &dyn FieldCipher,
    id: DocumentId,
) -> Result<Option<Document>, sqlx::Error> {
    let tenant = tx.tenant();
    let found: Option<StoredDocument> = tx
        .fetch_optional_audited(|query| {
            query
                .push(concat!(
                    "select ",
                    columns!(),
                    " from documents where tenant_id = "
                ))
                .push_bind(tenant)
                .push(" and id = ")
                .push_bind(id)
                .push(" and deleted_at is null");
        })
        .await?;
    found.map(|d| d.open(cipher)).transpose()
}

/// Soft delete: sets `deleted_at`. `false` when there was nothing live to delete.
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant(), document_id = %id))]
pub async fn soft_delete(tx: &mut TenantTx<'_>, id: DocumentId) -> Result<bool, sqlx::Error> {
    crate::patch::soft_delete(tx, "documents", id.as_uuid()).await
}
