//! `POST /api/v1/documents` (with `Idempotency-Key`) and `PATCH /api/v1/documents/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use haven_db::documents::{self, Document, NewUpload, UpdateOutcome};

use super::body::{CreateDocument, UpdateDocument, request_hash};
use super::upload::{self, CreatedDocument};
use super::{DocumentResponse, RESOURCE, WRITERS};
use crate::error::{ApiError, FieldError, codes};
use crate::extract::ApiJson;
use crate::openapi::{Denied, ErrorEnvelope, NotFound};
use crate::routes::input::{self, created};
use crate::routes::params::RawId;
use crate::scope::{Access, CreatedRow, Scope, WriteError, missing, settle_create};
use crate::state::AppState;

/// A write's database error: a broken CHECK is the client's input (422); a `patient_id` that
/// names no patient of this tenant is 422 too, and recorded as a refusal.
fn write_error(error: sqlx::Error) -> WriteError {
    let refusal = ApiError::new(codes::VAL_001).with_details(vec![FieldError {
        field: "patient_id".to_owned(),
        message: "names no patient of this tenant".to_owned(),
    }]);
    let unknown_patient = ("23503", "documents_patient_fkey");
    input::refused_on(error, "documents", unknown_patient, refusal)
}

impl CreatedRow for Document {
    fn id_text(&self) -> String {
        self.id.to_string()
    }

    fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

/// Creates a document (editor or admin). With an `Idempotency-Key` (1 to 255 printable ASCII
/// characters, scoped to the caller), a retry with the same body answers 201 with the document
/// first created (header `Idempotent-Replayed: true`) and creates nothing; the same key with a
/// different body is 422 IDEM_001. With `sha256` the document awaits its file: the response's
/// `upload` is the presigned PUT to send it with (then `POST /documents/{id}/complete`).
#[utoipa::path(post, path = "/api/v1/documents", tag = "documents", operation_id = "create_document",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, description = "Makes retries safe: 1 to 255 printable ASCII characters")),
    request_body = CreateDocument,
    responses(
        (status = 201, body = CreatedDocument, headers(("Location" = String, description = "The new document's URL"))),
        Denied,
        (status = 409, description = "The document created under this Idempotency-Key was deleted since (RES_002)", body = ErrorEnvelope),
        (status = 422, description = "Invalid body (a patient_id of no patient of this tenant too) or Idempotency-Key (VAL_001, with details), or the key was used with another body (IDEM_001)", body = ErrorEnvelope),
        (status = 503, description = "`sha256` sent but storage is not configured (STORAGE_001) or unavailable (STORAGE_002); Retry-After", body = ErrorEnvelope),
    ))]
pub async fn create_document(
    State(state): State<AppState>,
    scope: Scope,
    headers: HeaderMap,
    body: Result<ApiJson<CreateDocument>, ApiError>,
) -> Result<Response, ApiError> {
    let permit = scope
        .require(WRITERS, Access::new("document.create", RESOURCE))
        .await?;
    let checked = input::idempotency_key(&headers).and_then(|key| {
        let ApiJson(body) = body?;
        let sha256 = body.sha256.clone();
        Ok((key, body.validate()?, sha256))
    });
    let (key, mut new, sha256) = permit.input(checked).await?;
    let store = match &sha256 {
        Some(sha256) => {
            let store = match state.storage() {
                Ok(store) => store,
                Err(error) => return Err(permit.fail(error).await),
            };
            let valid = upload::validate(store.storage.settings(), &new, sha256);
            permit.input(valid).await?;
            Some((store, sha256.as_str()))
        }
        None => None,
    };
    let hash = upload::bind_hash(request_hash(&new), sha256.as_deref());
    // The insert records the upload itself (checksum and object key): one write of the row.
    new.upload = sha256.clone().map(|sha256| NewUpload {
        sha256,
        object_key: haven_storage::object_key,
    });
    let user = scope.principal().user_id;
    let (mut tx, phi) = permit.begin_phi().await?;
    let key = permit.key(key.as_deref(), &hash);
    let written = documents::create(&mut tx, &phi, user, &new, key).await;
    let (mut tx, outcome) = permit.written(written, tx, write_error).await?;
    // The upload is presigned before the create commits: nothing is stored without its upload
    // when presigning fails.
    let (outcome, upload) = match store {
        Some((store, sha256)) => match upload::attach(&mut tx, store, outcome, sha256).await {
            Ok(attached) => attached,
            Err(error) => {
                drop(tx);
                return Err(permit.fail(error).await);
            }
        },
        None => (outcome, None),
    };
    let (document, replayed) = settle_create(tx, outcome, "document.create_replayed").await?;
    let location = format!("/api/v1/documents/{}", document.id);
    let body = CreatedDocument {
        document: DocumentResponse::from(document),
        upload,
    };
    Ok(created(location, body, replayed))
}

/// Changes some fields of a document (editor or admin). The audit event names the fields whose
/// value changed, never the values. A document with content keeps the `content_type`,
/// `size_bytes` and `status` its upload set: a change to them is 409 CONTENT_002 (nothing
/// changes; recorded as refused).
#[utoipa::path(patch, path = "/api/v1/documents/{id}", tag = "documents", operation_id = "update_document",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The document id")),
    request_body = UpdateDocument,
    responses(
        (status = 200, body = DocumentResponse),
        Denied,
        NotFound,
        (status = 409, description = "A change to the content fields of a document with content (CONTENT_002, the fields in details)", body = ErrorEnvelope),
        (status = 422, description = "Invalid or empty body (storage_location is server-owned), or a patient_id of no patient of this tenant (VAL_001, with details)", body = ErrorEnvelope),
    ))]
pub async fn update_document(
    scope: Scope,
    RawId(raw): RawId,
    body: Result<ApiJson<UpdateDocument>, ApiError>,
) -> Result<Json<DocumentResponse>, ApiError> {
    let access = Access::new("document.update", RESOURCE);
    let (permit, id) = scope.require_id(WRITERS, access, &raw).await?;
    // After the id: a bad body on another tenant's id is recorded with that id.
    let patch = permit
        .input(body.and_then(|ApiJson(body)| body.validate()))
        .await?;
    let (mut tx, phi) = permit.begin_phi().await?;
    let written = documents::update(&mut tx, &phi, id, patch).await;
    let (mut tx, updated) = permit.written(written, tx, write_error).await?;
    let updated = match updated {
        UpdateOutcome::Updated(updated) => updated,
        // Missing, deleted or another tenant's: nothing changed; the attempt is recorded.
        UpdateOutcome::Missing => return Err(missing(tx).await),
        UpdateOutcome::ContentFieldsLocked(fields) => {
            tx.audit_changed(&fields);
            tx.deny(codes::CONTENT_002.code);
            tx.commit().await?;
            return Err(content_fields_locked(&fields));
        }
    };
    tx.audit_changed(&updated.changed_fields);
    tx.commit().await?;
    Ok(Json(updated.row.into()))
}

/// 409 CONTENT_002 naming each content field the patch would have changed.
fn content_fields_locked(fields: &[&str]) -> ApiError {
    ApiError::new(codes::CONTENT_002).with_details(
        fields
            .iter()
            .map(|field| FieldError {
                field: (*field).to_owned(),
                message: "is set by the document's upload and cannot be changed".to_owned(),
            })
            .collect(),
    )
}
