//! A document's file: reissuing its upload URL, completing the upload (the one call to the
//! store on the request path: HEAD), and download URLs. Every attempt leaves one audit event.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use haven_db::documents::content::{self, ContentState};
use haven_storage::{Expected, object_key};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::upload::{self, Upload, UploadInstructions};
use super::{DocumentStatus, READERS, RESOURCE, WRITERS};
use crate::error::{ApiError, FieldError, codes};
use crate::openapi::{Denied, ErrorEnvelope, NotFound};
use crate::routes::params::RawId;
use crate::scope::{Access, AuditOutcome, Permit, Scope};
use crate::state::AppState;
use crate::storage::ContentStore;

/// The store, or 503 STORAGE_001 recorded as a failed attempt.
async fn store<'a>(state: &'a AppState, permit: &Permit<'_>) -> Result<&'a ContentStore, ApiError> {
    match state.storage() {
        Ok(store) => Ok(store),
        Err(error) => Err(permit.fail(error).await),
    }
}

/// Issues a new presigned upload URL for a document still awaiting its file (editor or admin).
#[utoipa::path(post, path = "/api/v1/documents/{id}/upload-url", tag = "documents",
    operation_id = "reissue_upload_url", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The document id")),
    responses(
        (status = 200, body = UploadInstructions),
        Denied,
        NotFound,
        (status = 409, description = "The document is not awaiting an upload (UPLOAD_001)", body = ErrorEnvelope),
        (status = 503, description = "Storage is not configured (STORAGE_001) or unavailable (STORAGE_002); Retry-After", body = ErrorEnvelope),
    ))]
pub async fn reissue_upload_url(
    State(state): State<AppState>,
    scope: Scope,
    RawId(raw): RawId,
) -> Result<Json<UploadInstructions>, ApiError> {
    let access = Access::new("document.upload_url", RESOURCE);
    let (permit, id) = scope.require_id(WRITERS, access, &raw).await?;
    let store = store(&state, &permit).await?;
    let mut tx = permit.begin().await?;
    let found = content::content_state(&mut tx, id).await?;
    let refusal = match &found {
        None => Some(codes::RES_001),
        Some(document) if !document.awaits_upload() => Some(codes::UPLOAD_001),
        Some(_) => None,
    };
    let (None, Some(document)) = (refusal, found) else {
        let refusal = refusal.unwrap_or(codes::RES_001);
        tx.deny(refusal.code);
        tx.commit().await?;
        return Err(ApiError::new(refusal));
    };
    let upload = Upload {
        tenant: tx.tenant(),
        document: id,
        content_type: &document.content_type,
        size_bytes: document.size_bytes,
        sha256: document.content_sha256.as_deref().unwrap_or_default(),
    };
    let instructions = match upload::instructions(store, &upload).await {
        Ok(instructions) => instructions,
        Err(error) => {
            drop(tx);
            return Err(permit.fail(error).await);
        }
    };
    tx.commit().await?;
    Ok(Json(instructions))
}

/// A completed upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct Completion {
    pub id: uuid::Uuid,
    /// `ready`.
    pub status: DocumentStatus,
    pub size_bytes: i64,
    pub content_type: String,
    #[serde(with = "time::serde::rfc3339")]
    pub completed_at: OffsetDateTime,
}

fn completion(document: &ContentState) -> Result<Json<Completion>, ApiError> {
    let completed_at = document
        .content_verified_at
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a ready document has no time")))?;
    Ok(Json(Completion {
        id: document.id.as_uuid(),
        status: document.status.into(),
        size_bytes: document.size_bytes,
        content_type: document.content_type.clone(),
        completed_at,
    }))
}

/// 422 UPLOAD_002 naming the field the object disagreed with and the reason code.
fn refused(reason: &str) -> ApiError {
    let field = match reason {
        "size_mismatch" => "size_bytes",
        "content_type_mismatch" => "content_type",
        "checksum_mismatch" => "sha256",
        _ => "encryption",
    };
    ApiError::new(codes::UPLOAD_002).with_details(vec![FieldError {
        field: field.to_owned(),
        message: reason.to_owned(),
    }])
}

/// Completes an upload (editor or admin): the stored object is checked (size, content type,
/// checksum when the store reports it, SSE-KMS with the configured key). A match makes the
/// document `ready`; a mismatch deletes the object and makes it `failed` with a reason code
/// (422 UPLOAD_002). Repeating the call answers the same.
#[utoipa::path(post, path = "/api/v1/documents/{id}/complete", tag = "documents",
    operation_id = "complete_upload", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The document id")),
    responses(
        (status = 200, body = Completion),
        Denied,
        NotFound,
        (status = 409, description = "Not awaiting an upload (UPLOAD_001), or nothing uploaded yet (UPLOAD_003)", body = ErrorEnvelope),
        (status = 422, description = "The object did not match; the document is failed (UPLOAD_002, the reason in details)", body = ErrorEnvelope),
        (status = 503, description = "Storage is not configured (STORAGE_001) or unavailable (STORAGE_002); Retry-After", body = ErrorEnvelope),
    ))]
pub async fn complete_upload(
    State(state): State<AppState>,
    scope: Scope,
    RawId(raw): RawId,
) -> Result<Json<Completion>, ApiError> {
    let access = Access::new("document.upload", RESOURCE);
    let (permit, id) = scope.require_id(WRITERS, access, &raw).await?;
    let store = store(&state, &permit).await?;
    let mut tx = permit.begin().await?;
    let tenant = tx.tenant();
    let found = content::content_state(&mut tx, id).await?;
    let document = match answer_without_store(found) {
        Answer::Pending(document) => {
            // No transaction is held across the call to the store; the event is written with
            // the outcome below.
            tx.rollback().await?;
            document
        }
        Answer::Done(outcome, result) => {
            tx.set_outcome(outcome, error_code(&result));
            tx.commit().await?;
            return result;
        }
    };
    let key = object_key(tenant.as_uuid(), id.as_uuid());
    let facts = match store.storage.head(&key).await {
        Ok(Some(facts)) => facts,
        Ok(None) => {
            crate::storage::completion("missing");
            return Err(permit.refuse(ApiError::new(codes::UPLOAD_003)).await);
        }
        Err(error) => return Err(permit.fail(error.into()).await),
    };
    let expected = Expected {
        size_bytes: document.size_bytes,
        content_type: &document.content_type,
        sha256: document.content_sha256.as_deref().unwrap_or_default(),
        kms_key_id: store.storage.settings().kms_key_id.as_deref(),
    };
    if let Err(mismatch) = haven_storage::verify(&expected, &facts) {
        // The object goes first: should the delete fail, the document is still pending and a
        // retry checks (and deletes) again. A failed document never keeps an object.
        if let Err(error) = store.storage.delete(&key).await {
            return Err(permit.fail(error.into()).await);
        }
        let mut tx = permit.begin().await?;
        content::mark_failed(&mut tx, id, mismatch.code()).await?;
        tx.deny(codes::UPLOAD_002.code);
        tx.commit().await?;
        crate::storage::completion("failed");
        return Err(refused(mismatch.code()));
    }
    let mut tx = permit.begin().await?;
    if let Some(ready) = content::mark_ready(&mut tx, id).await? {
        tx.commit().await?;
        crate::storage::completion("ready");
        return completion(&ready);
    }
    // Another completion (or a delete) got there first: answer from what it left.
    let now = content::content_state(&mut tx, id).await?;
    let (outcome, result) = match answer_without_store(now) {
        Answer::Done(outcome, result) => (outcome, result),
        Answer::Pending(_) => (AuditOutcome::Denied, Err(ApiError::new(codes::UPLOAD_001))),
    };
    tx.set_outcome(outcome, error_code(&result));
    tx.commit().await?;
    result
}

/// The code of the error an answer carries, for its audit event.
fn error_code<T>(result: &Result<T, ApiError>) -> Option<&'static str> {
    result.as_ref().err().map(|error| error.code().code)
}

/// What completion can say from the row alone.
enum Answer {
    /// Awaiting its upload: the store must be asked.
    Pending(ContentState),
    /// Decided: the audit outcome and the response.
    Done(AuditOutcome, Result<Json<Completion>, ApiError>),
}

fn answer_without_store(found: Option<ContentState>) -> Answer {
    match found {
        None => Answer::Done(AuditOutcome::Denied, Err(ApiError::new(codes::RES_001))),
        Some(document) if document.awaits_upload() => Answer::Pending(document),
        // Idempotent: a completed upload answers as it did the first time.
        Some(document) if document.content_verified_at.is_some() => {
            crate::storage::completion("replayed");
            Answer::Done(AuditOutcome::Success, completion(&document))
        }
        Some(ContentState {
            upload_failure: Some(reason),
            ..
        }) => Answer::Done(AuditOutcome::Denied, Err(refused(&reason))),
        Some(_) => Answer::Done(AuditOutcome::Denied, Err(ApiError::new(codes::UPLOAD_001))),
    }
}

/// A presigned download URL.
#[derive(Debug, Serialize, ToSchema)]
pub struct DownloadLink {
    /// Always `GET`.
    #[schema(example = "GET")]
    pub method: &'static str,
    /// The presigned URL (an object-store URL): the file, as an attachment.
    pub url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// `redirect=true|false` (default true); anything else is 422.
fn wants_redirect(query: Option<&str>) -> Result<bool, ApiError> {
    let mut redirect = true;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match (name.as_ref(), value.as_ref()) {
            ("redirect", "true") => redirect = true,
            ("redirect", "false") => redirect = false,
            (name, _) => {
                let field = if name == "redirect" {
                    "redirect"
                } else {
                    "query"
                };
                return Err(ApiError::new(codes::VAL_001).with_details(vec![FieldError {
                    field: field.to_owned(),
                    message: "only redirect=true or redirect=false is accepted".to_owned(),
                }]));
            }
        }
    }
    Ok(redirect)
}

/// Downloads a ready document's file (viewer, editor or admin): 303 to a short-lived presigned
/// URL that saves it as an attachment under its filename; `?redirect=false` returns the URL as
/// JSON instead. Every URL issued is audited as `document.download`.
#[utoipa::path(get, path = "/api/v1/documents/{id}/content", tag = "documents",
    operation_id = "download_content", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The document id"),
        ("redirect" = Option<bool>, Query, description = "false: answer 200 with the URL as JSON instead of a 303")),
    responses(
        (status = 200, description = "With redirect=false", body = DownloadLink),
        (status = 303, description = "To the presigned URL", headers(("Location" = String))),
        Denied,
        NotFound,
        (status = 409, description = "The document's content is not ready (CONTENT_001)", body = ErrorEnvelope),
        (status = 422, description = "A query parameter other than redirect=true|false (VAL_001)", body = ErrorEnvelope),
        (status = 503, description = "Storage is not configured (STORAGE_001) or unavailable (STORAGE_002); Retry-After", body = ErrorEnvelope),
    ))]
pub async fn download_content(
    State(state): State<AppState>,
    scope: Scope,
    RawId(raw): RawId,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let access = Access::new("document.download", RESOURCE);
    let (permit, id) = scope.require_id(READERS, access, &raw).await?;
    let redirect = match wants_redirect(query.as_deref()) {
        Ok(redirect) => redirect,
        Err(refusal) => return Err(permit.refuse(refusal).await),
    };
    let store = store(&state, &permit).await?;
    let (mut tx, phi) = permit.begin_phi().await?;
    let tenant = tx.tenant();
    // The read and its audit event in one statement: success only for a downloadable row.
    let document = match content::download(&mut tx, id).await? {
        None => {
            tx.commit().await?;
            return Err(ApiError::new(codes::RES_001));
        }
        Some(document) if !document.is_downloadable() => {
            tx.commit().await?;
            return Err(ApiError::new(codes::CONTENT_001));
        }
        Some(document) => document,
    };
    // The key is rebuilt from the caller's tenant and the id, never read from the row.
    let key = object_key(tenant.as_uuid(), id.as_uuid());
    let disposition = haven_storage::attachment(&document.filename(&phi)?);
    // Presigning is local; should it fail, the success event rolls back with the URL never
    // issued, and the attempt is recorded as failed instead.
    let link = match store
        .storage
        .presign_download(&key, &disposition, &document.content_type)
        .await
    {
        Ok(link) => link,
        Err(error) => {
            drop(tx);
            return Err(permit.fail(error.into()).await);
        }
    };
    tx.commit().await?;
    crate::storage::download_url_issued();
    let mut response = if redirect {
        Redirect::to(&link.url).into_response()
    } else {
        Json(DownloadLink {
            method: "GET",
            url: link.url,
            expires_at: OffsetDateTime::now_utc() + link.expires_in,
        })
        .into_response()
    };
    // The URL is a bearer credential for the file: no cache keeps it.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
