//! The upload a document awaits: checking what the client declared, and the presigned PUT it
//! sends the file with (returned by create and by `POST /documents/{id}/upload-url`).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use haven_db::documents::{CreateOutcome, Document, DocumentStatus, NewDocument};
use haven_db::ids::{DocumentId, TenantId};
use haven_db::tenant::TenantTx;
use haven_storage::{StorageSettings, UploadSpec};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::DocumentResponse;
use crate::error::ApiError;
use crate::routes::params::Problems;
use crate::storage::ContentStore;

/// How to send the file: a `PUT` of the exact bytes to `url` with every header in `headers`,
/// before `expires_at`. Browsers set `content-length` themselves.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadInstructions {
    /// Always `PUT`.
    #[schema(example = "PUT")]
    pub method: &'static str,
    /// The presigned URL (an object-store URL, not Haven's).
    pub url: String,
    /// Headers the PUT must carry unchanged (content type, length, `x-amz-checksum-sha256`,
    /// the SSE-KMS headers): S3 refuses the upload otherwise.
    pub headers: BTreeMap<String, String>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// A created document, and the upload it awaits when `sha256` was sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedDocument {
    #[serde(flatten)]
    pub document: DocumentResponse,
    /// Present when the document was created with `sha256` and still awaits its file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<UploadInstructions>,
}

/// A base64 SHA-256: 44 characters of standard base64 decoding to 32 bytes.
fn is_sha256(text: &str) -> bool {
    text.len() == 44 && STANDARD.decode(text).is_ok_and(|bytes| bytes.len() == 32)
}

/// The checks an upload adds to a create: a well-formed `sha256`, a size from 1 byte to the
/// cap, an allowed content type, no status but `pending` (completion sets the rest). 422 with
/// every problem.
pub(super) fn validate(
    settings: &StorageSettings,
    new: &NewDocument,
    sha256: &str,
) -> Result<(), ApiError> {
    let mut problems = Problems::default();
    if !is_sha256(sha256) {
        problems.add(
            "sha256",
            "must be the base64 SHA-256 of the file (44 characters)",
        );
    }
    let max = settings.max_upload_bytes;
    if new.size_bytes < 1 || new.size_bytes as u64 > max {
        problems.add(
            "size_bytes",
            format!("must be the file's size, 1 to {max} bytes"),
        );
    }
    if new.status != DocumentStatus::Pending {
        problems.add(
            "status",
            "must be absent or pending when sha256 is sent (completion sets it)",
        );
    }
    if !settings.allows_content_type(&new.content_type) {
        problems.add(
            "content_type",
            format!(
                "must be one of {}",
                settings.allowed_content_types.join(", ")
            ),
        );
    }
    problems.finish()
}

/// The Idempotency-Key hash of a create that also carries `sha256`: a retry with another file
/// is another request.
pub(super) fn bind_hash(hash: [u8; 32], sha256: Option<&str>) -> [u8; 32] {
    match sha256 {
        None => hash,
        Some(sha256) => Sha256::new()
            .chain_update(hash)
            .chain_update(b"sha256:")
            .chain_update(sha256.as_bytes())
            .finalize()
            .into(),
    }
}

/// What a document's presigned PUT is for.
pub(super) struct Upload<'a> {
    pub tenant: TenantId,
    pub document: DocumentId,
    pub content_type: &'a str,
    pub size_bytes: i64,
    pub sha256: &'a str,
}

/// In the create's transaction, before it commits: presigns the PUT of the upload the new
/// document awaits (the insert recorded its SHA-256 and its server-built key as
/// `storage_location`). A replayed create gets a fresh URL while its document still awaits
/// the file.
pub(super) async fn attach(
    tx: &mut TenantTx<'_>,
    store: &ContentStore,
    outcome: CreateOutcome<Document>,
    sha256: &str,
) -> Result<(CreateOutcome<Document>, Option<UploadInstructions>), ApiError> {
    let (document, replayed) = match outcome {
        CreateOutcome::Created(document) => (document, false),
        CreateOutcome::Replayed(document) => (document, true),
        other => return Ok((other, None)),
    };
    let tenant = tx.tenant();
    let awaits = document.status == DocumentStatus::Pending && document.deleted_at.is_none();
    let instructions = if awaits {
        let upload = Upload {
            tenant,
            document: document.id,
            content_type: &document.content_type,
            size_bytes: document.size_bytes,
            sha256,
        };
        Some(instructions(store, &upload).await?)
    } else {
        None
    };
    let outcome = if replayed {
        CreateOutcome::Replayed(document)
    } else {
        CreateOutcome::Created(document)
    };
    Ok((outcome, instructions))
}

/// Presigns the document's PUT (local, no call to the store) and counts it.
pub(super) async fn instructions(
    store: &ContentStore,
    upload: &Upload<'_>,
) -> Result<UploadInstructions, ApiError> {
    let presigned = store
        .storage
        .presign_upload(&UploadSpec {
            tenant: upload.tenant.as_uuid(),
            document: upload.document.as_uuid(),
            content_type: upload.content_type,
            size_bytes: upload.size_bytes,
            sha256: upload.sha256,
        })
        .await?;
    crate::storage::upload_url_issued();
    Ok(UploadInstructions {
        method: "PUT",
        url: presigned.url,
        headers: presigned.headers.into_iter().collect(),
        expires_at: OffsetDateTime::now_utc() + presigned.expires_in,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_base64_sha256_is_accepted() {
        let good = STANDARD.encode(Sha256::digest(b"x"));
        assert!(is_sha256(&good));
        assert!(!is_sha256(&good[..43]));
        assert!(!is_sha256(&"A".repeat(44)));
        assert!(!is_sha256(&hex_like()));
    }

    fn hex_like() -> String {
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".to_owned()
    }

    #[test]
    fn the_file_hash_changes_the_idempotency_hash() {
        let base = [7u8; 32];
        assert_eq!(bind_hash(base, None), base);
        assert_ne!(bind_hash(base, Some("a")), bind_hash(base, Some("b")));
    }
}
