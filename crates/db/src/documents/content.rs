//! A document's content life cycle: the upload it awaits, completion, audited download reads.

use time::OffsetDateTime;

use super::DocumentStatus;
use crate::fields::{Field, FieldCipher, open_text};
use crate::ids::{DocumentId, TenantId};
use crate::tenant::{AccessGrant, TenantTx};

/// What the content endpoints need of a live document.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ContentState {
    pub id: DocumentId,
    pub tenant_id: TenantId,
    /// Sealed like every PHI column: [`ContentState::filename`] opens it.
    #[sqlx(rename = "filename")]
    sealed_filename: Vec<u8>,
    pub content_type: String,
    pub size_bytes: i64,
    pub status: DocumentStatus,
    /// `None`: the document was created without an upload.
    pub content_sha256: Option<String>,
    pub content_verified_at: Option<OffsetDateTime>,
    pub upload_failure: Option<String>,
}

impl ContentState {
    /// The file name, opened with the tenant's cipher (for the download's
    /// `Content-Disposition`); a value that fails authentication is an error.
    pub fn filename(&self, cipher: &dyn FieldCipher) -> Result<String, sqlx::Error> {
        open_text(
            cipher,
            Field::new("documents", "filename", self.id.as_uuid()),
            &self.sealed_filename,
        )
    }

    /// Completed and ready: a download URL may be issued.
    pub fn is_downloadable(&self) -> bool {
        self.status == DocumentStatus::Ready && self.content_verified_at.is_some()
    }

    /// Created for an upload that has not been completed or refused yet.
    pub fn awaits_upload(&self) -> bool {
        self.status == DocumentStatus::Pending
            && self.content_sha256.is_some()
            && self.content_verified_at.is_none()
    }
}

macro_rules! content_columns {
    () => {
        "id, tenant_id, filename, content_type, size_bytes, status, content_sha256, \
         content_verified_at, upload_failure"
    };
}

/// The live document's content state; `None` when missing, deleted or another tenant's.
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant(), document_id = %id))]
pub async fn content_state(
    tx: &mut TenantTx<'_>,
    id: DocumentId,
) -> Result<Option<ContentState>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        content_columns!(),
        " from documents where tenant_id = $1 and id = $2 and deleted_at is null"
    ))
    .bind(tx.tenant())
    .bind(id)
    .fetch_optional(tx.as_mut())
    .await
}

/// What a download of a document found but not downloadable is refused with (`CONTENT_001`).
pub const DOWNLOAD_REFUSED_CODE: &str = "CONTENT_001";

/// The download's read: the live document, with the transaction's queued events written in the
/// same statement (the PHI access). They keep their outcome only for a downloadable document
/// and are `denied` otherwise (missing, another tenant's, not ready).
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant(), document_id = %id))]
pub async fn download(
    tx: &mut TenantTx<'_>,
    id: DocumentId,
) -> Result<Option<ContentState>, sqlx::Error> {
    let tenant = tx.tenant();
    let grant = AccessGrant {
        sql: "exists (select 1 from found where status = 'ready' \
              and content_verified_at is not null)",
        holds: ContentState::is_downloadable,
        // The API's code for a document not ready to download (a test in crates/api keeps
        // the two equal).
        refused_code: DOWNLOAD_REFUSED_CODE,
    };
    tx.fetch_optional_audited_if(grant, |query| {
        query
            .push(concat!(
                "select ",
                content_columns!(),
                " from documents where tenant_id = "
            ))
            .push_bind(tenant)
            .push(" and id = ")
            .push_bind(id)
            .push(" and deleted_at is null");
    })
    .await
}

/// Moves a document awaiting its upload to `ready`. `None` when it no longer awaits one (a
/// concurrent completion won, or it was deleted): the caller re-reads and answers from that.
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant(), document_id = %id))]
pub async fn mark_ready(
    tx: &mut TenantTx<'_>,
    id: DocumentId,
) -> Result<Option<ContentState>, sqlx::Error> {
    sqlx::query_as(concat!(
        "update documents set status = 'ready', content_verified_at = now(), updated_at = now()",
        " where tenant_id = $1 and id = $2 and deleted_at is null and status = 'pending'",
        " and content_sha256 is not null and content_verified_at is null returning ",
        content_columns!()
    ))
    .bind(tx.tenant())
    .bind(id)
    .fetch_optional(tx.as_mut())
    .await
}

/// Moves a document awaiting its upload to `failed` with `reason` (its object already deleted).
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant(), document_id = %id))]
pub async fn mark_failed(
    tx: &mut TenantTx<'_>,
    id: DocumentId,
    reason: &str,
) -> Result<Option<ContentState>, sqlx::Error> {
    sqlx::query_as(concat!(
        "update documents set status = 'failed', upload_failure = $3, updated_at = now()",
        " where tenant_id = $1 and id = $2 and deleted_at is null and status = 'pending'",
        " and content_sha256 is not null and content_verified_at is null returning ",
        content_columns!()
    ))
    .bind(tx.tenant())
    .bind(id)
    .bind(reason)
    .fetch_optional(tx.as_mut())
    .await
}
