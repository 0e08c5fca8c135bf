//! A document as stored: `title`, `filename` and `metadata` sealed by the tenant's
//! [`FieldCipher`], bound to table, column and row id.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Document, DocumentStatus};
use crate::fields::{Field, FieldCipher, open_json, open_text};
use crate::ids::{DocumentId, PatientId, TenantId, UserId};

const TABLE: &str = "documents";

/// A row as selected with `columns!()`: PHI columns still sealed.
#[derive(sqlx::FromRow)]
pub(super) struct StoredDocument {
    pub(super) id: DocumentId,
    tenant_id: TenantId,
    title: Vec<u8>,
    filename: Vec<u8>,
    content_type: String,
    size_bytes: i64,
    status: DocumentStatus,
    metadata: Vec<u8>,
    storage_location: Option<String>,
    patient_id: Option<PatientId>,
    created_by: UserId,
    pub(super) created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    deleted_at: Option<OffsetDateTime>,
}

impl StoredDocument {
    /// Opens the PHI columns; a value that fails authentication is an error, never a guess.
    pub(super) fn open(self, cipher: &dyn FieldCipher) -> Result<Document, sqlx::Error> {
        let field = |column| Field::new(TABLE, column, self.id.as_uuid());
        Ok(Document {
            title: open_text(cipher, field("title"), &self.title)?,
            filename: open_text(cipher, field("filename"), &self.filename)?,
            metadata: open_json(cipher, field("metadata"), &self.metadata)?,
            id: self.id,
            tenant_id: self.tenant_id,
            content_type: self.content_type,
            size_bytes: self.size_bytes,
            status: self.status,
            storage_location: self.storage_location,
            patient_id: self.patient_id,
            created_by: self.created_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
            deleted_at: self.deleted_at,
        })
    }
}

/// `title`, `filename` and `metadata` of row `id`, sealed.
pub(super) fn seal(
    cipher: &dyn FieldCipher,
    id: Uuid,
    title: &str,
    filename: &str,
    metadata: &serde_json::Value,
) -> [Vec<u8>; 3] {
    let field = |column| Field::new(TABLE, column, id);
    [
        cipher.seal(field("title"), title.as_bytes()),
        cipher.seal(field("filename"), filename.as_bytes()),
        cipher.seal(field("metadata"), metadata.to_string().as_bytes()),
    ]
}
