//! Document writes: create (optionally idempotent) and partial update.

use sqlx::FromRow;
use uuid::Uuid;

use super::sealed::{StoredDocument, seal};
use super::{Document, DocumentStatus, columns};
use crate::fields::FieldCipher;
use crate::idempotency::{self, CreateOutcome, Key, Link};
use crate::ids::{DocumentId, PatientId, UserId};
use crate::patch::{Updated, apply};
use crate::tenant::TenantTx;

/// A document to create. The API has validated it against the limits in `documents`.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub title: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub status: DocumentStatus,
    /// Must be a JSON object.
    pub metadata: serde_json::Value,
    pub storage_location: Option<String>,
    /// A patient of the same tenant (the composite foreign key refuses any other: 23503).
    pub patient_id: Option<PatientId>,
    /// The file the document is created to await, if any: recorded by the insert itself.
    pub upload: Option<NewUpload>,
}

/// The upload a new document awaits: the declared SHA-256 (base64) and the rule that builds its
/// object key from the tenant and the new row's id (the storage crate's; never client input).
/// The key becomes the row's `storage_location`.
#[derive(Debug, Clone)]
pub struct NewUpload {
    pub sha256: String,
    pub object_key: fn(Uuid, Uuid) -> String,
}

/// Creates a document in the caller's transaction, under an `Idempotency-Key` when there is
/// one (see [`idempotency`]). The row id is chosen here: it is bound into every sealed field.
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant(), user_id = %created_by))]
pub async fn create(
    tx: &mut TenantTx<'_>,
    cipher: &dyn FieldCipher,
    created_by: UserId,
    new: &NewDocument,
    key: Option<Key<'_>>,
) -> Result<CreateOutcome<Document>, sqlx::Error> {
    let tenant = tx.tenant();
    let id = Uuid::new_v4();
    let [title, filename, metadata] = seal(cipher, id, &new.title, &new.filename, &new.metadata);
    let (sha256, location) = match &new.upload {
        Some(upload) => (
            Some(upload.sha256.clone()),
            Some((upload.object_key)(tenant.as_uuid(), id)),
        ),
        None => (None, new.storage_location.clone()),
    };
    let outcome = idempotency::create(
        tx,
        key,
        Link::Document,
        |query| {
            query.push(
                "insert into documents (tenant_id, id, created_by, title, filename, \
                 content_type, size_bytes, status, metadata, storage_location, patient_id, \
                 content_sha256) ",
            );
            query.push_values([new], |mut row, new| {
                row.push_bind(tenant)
                    .push_bind(id)
                    .push_bind(created_by)
                    .push_bind(title.clone())
                    .push_bind(filename.clone())
                    .push_bind(new.content_type.clone())
                    .push_bind(new.size_bytes)
                    .push_bind(new.status)
                    .push_bind(metadata.clone())
                    .push_bind(location.clone())
                    .push_bind(new.patient_id)
                    .push_bind(sha256.clone());
            });
            query.push(concat!(" returning ", columns!()));
        },
        |query, id| {
            query
                .push(concat!(
                    "select ",
                    columns!(),
                    " from documents where tenant_id = "
                ))
                .push_bind(tenant)
                .push(" and id = ")
                .push_bind(id);
        },
    )
    .await?;
    outcome.try_map(|row| StoredDocument::from_row(&row)?.open(cipher))
}

/// A partial update: `None` leaves a field as it is. `storage_location` is not here: the server
/// sets it (the object key) when a document is created for an upload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocumentPatch {
    pub title: Option<String>,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub size_bytes: Option<i64>,
    pub status: Option<DocumentStatus>,
    pub metadata: Option<serde_json::Value>,
    /// `Some(None)` detaches the document from its patient.
    pub patient_id: Option<Option<PatientId>>,
}

/// What an update did.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateOutcome {
    /// Missing, soft-deleted or another tenant's: nothing changed.
    Missing,
    Updated(Box<Updated<Document>>),
    /// The document has content (it was created for an upload) and the patch would change
    /// these fields, which its upload set and completion checks: nothing changed.
    ContentFieldsLocked(Vec<&'static str>),
}

/// The fields of a document with content that only its upload sets.
pub const CONTENT_FIELDS: [&str; 3] = ["content_type", "size_bytes", "status"];

#[derive(sqlx::FromRow)]
struct Locked {
    #[sqlx(flatten)]
    doc: StoredDocument,
    has_content: bool,
}

/// Applies `patch` to a live document. The row is locked first, so concurrent updates apply one
/// after the other and each reports exactly the fields it changed. A change re-seals the PHI
/// columns under the tenant's active key version.
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant(), document_id = %id))]
pub async fn update(
    tx: &mut TenantTx<'_>,
    cipher: &dyn FieldCipher,
    id: DocumentId,
    patch: DocumentPatch,
) -> Result<UpdateOutcome, sqlx::Error> {
    let current: Option<Locked> = sqlx::query_as(concat!(
        "select ",
        columns!(),
        ", content_sha256 is not null as has_content",
        " from documents where tenant_id = $1 and id = $2 and deleted_at is null for update"
    ))
    .bind(tx.tenant())
    .bind(id)
    .fetch_optional(tx.as_mut())
    .await?;
    let Some(Locked { doc, has_content }) = current else {
        return Ok(UpdateOutcome::Missing);
    };
    let mut doc = doc.open(cipher)?;
    let mut changed = Vec::new();
    let c = &mut changed;
    apply("title", &mut doc.title, patch.title, c);
    apply("filename", &mut doc.filename, patch.filename, c);
    apply("content_type", &mut doc.content_type, patch.content_type, c);
    apply("size_bytes", &mut doc.size_bytes, patch.size_bytes, c);
    apply("status", &mut doc.status, patch.status, c);
    apply("metadata", &mut doc.metadata, patch.metadata, c);
    apply("patient_id", &mut doc.patient_id, patch.patient_id, c);
    if has_content {
        let locked: Vec<&'static str> = changed
            .iter()
            .copied()
            .filter(|field| CONTENT_FIELDS.contains(field))
            .collect();
        if !locked.is_empty() {
            return Ok(UpdateOutcome::ContentFieldsLocked(locked));
        }
    }
    if changed.is_empty() {
        return Ok(UpdateOutcome::Updated(Box::new(Updated {
            row: doc,
            changed_fields: changed,
        })));
    }
    let [title, filename, metadata] = seal(
        cipher,
        id.as_uuid(),
        &doc.title,
        &doc.filename,
        &doc.metadata,
    );
    let document: StoredDocument = sqlx::query_as(concat!(
        "update documents set title = $3, filename = $4, content_type = $5, size_bytes = $6,",
        " status = $7, metadata = $8, patient_id = $9, updated_at = now()",
        " where tenant_id = $1 and id = $2 returning ",
        columns!()
    ))
    .bind(tx.tenant())
    .bind(id)
    .bind(title)
    .bind(filename)
    .bind(&doc.content_type)
    .bind(doc.size_bytes)
    .bind(doc.status)
    .bind(metadata)
    .bind(doc.patient_id)
    .fetch_one(tx.as_mut())
    .await?;
    Ok(UpdateOutcome::Updated(Box::new(Updated {
        row: document.open(cipher)?,
        changed_fields: changed,
    })))
}
