//! `POST /api/v1/documents` (with `Idempotency-Key`) and `PATCH /api/v1/documents/{id}`.

use axum::Json;
use axum::http::HeaderMap;
use axum::response::Response;
use haven_db::documents::{self, Document};
use haven_db::idempotency::Key;

use super::body::{CreateDocument, UpdateDocument, request_hash};
use super::{DocumentResponse, RESOURCE, WRITERS};
use crate::error::{ApiError, FieldError, codes};
use crate::extract::ApiJson;
use crate::openapi::ErrorEnvelope;
use crate::routes::input::{self, created, is_violation};
use crate::routes::params::RawId;
use crate::scope::{Access, Created, Permit, Scope, settle_create};

/// A write's database error: a broken CHECK is the client's input (422); a `patient_id` that
/// names no patient of this tenant is 422 too, and recorded as a refusal.
async fn write_error(permit: &Permit<'_>, error: sqlx::Error) -> ApiError {
    if is_violation(&error, "23503", "documents_patient_fkey") {
        let refusal = ApiError::new(codes::VAL_001).with_details(vec![FieldError {
            field: "patient_id".to_owned(),
            message: "names no patient of this tenant".to_owned(),
        }]);
        return permit.refuse(refusal).await;
    }
    input::write_error("documents", error)
}

/// Creates a document (editor or admin). With an `Idempotency-Key` (1 to 255 printable ASCII
/// characters, scoped to the caller), a retry with the same body answers 201 with the document
/// first created (header `Idempotent-Replayed: true`) and creates nothing; the same key with a
/// different body is 422 IDEM_001.
#[utoipa::path(post, path = "/documents", tag = "documents", operation_id = "create_document",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, description = "Makes retries safe: 1 to 255 printable ASCII characters")),
    request_body = CreateDocument,
    responses(
        (status = 201, body = DocumentResponse, headers(("Location" = String, description = "The new document's URL"))),
        (status = 400, description = "The body is not JSON (REQ_005)", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "The caller's roles do not allow changing documents (AUTH_009)", body = ErrorEnvelope),
        (status = 409, description = "The document created under this Idempotency-Key was deleted since (RES_002)", body = ErrorEnvelope),
        (status = 415, description = "Not application/json (REQ_003)", body = ErrorEnvelope),
        (status = 422, description = "Invalid body (a patient_id of no patient of this tenant too) or Idempotency-Key (VAL_001, with details), or the key was used with another body (IDEM_001)", body = ErrorEnvelope),
    ))]
pub async fn create_document(
    scope: Scope,
    headers: HeaderMap,
    body: Result<ApiJson<CreateDocument>, ApiError>,
) -> Result<Response, ApiError> {
    let permit = scope
        .require(WRITERS, Access::new("document.create", RESOURCE))
        .await?;
    let key = input::idempotency_key(&headers)?;
    let ApiJson(body) = body?;
    let new = body.validate()?;
    let hash = request_hash(&new);
    let user = scope.principal().user_id;
    let key = key.as_deref().map(|key| Key {
        user,
        key,
        request_hash: &hash,
    });
    let (mut tx, phi) = permit.begin_phi().await?;
    let outcome = match documents::create(&mut tx, &phi, user, &new, key).await {
        Ok(outcome) => outcome,
        Err(error) => {
            drop(tx);
            return Err(write_error(&permit, error).await);
        }
    };
    let row = Created {
        id: &|d: &Document| d.id.to_string(),
        deleted: &|d: &Document| d.deleted_at.is_some(),
        replayed_action: "document.create_replayed",
    };
    let (document, replayed) = settle_create(tx, outcome, row).await?;
    let location = format!("/api/v1/documents/{}", document.id);
    Ok(created(
        location,
        DocumentResponse::from(document),
        replayed,
    ))
}

/// Changes some fields of a document (editor or admin). The audit event names the fields whose
/// value changed, never the values.
#[utoipa::path(patch, path = "/documents/{id}", tag = "documents", operation_id = "update_document",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The document id")),
    request_body = UpdateDocument,
    responses(
        (status = 200, body = DocumentResponse),
        (status = 400, description = "The body is not JSON (REQ_005)", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "The caller's roles do not allow changing documents (AUTH_009)", body = ErrorEnvelope),
        (status = 404, description = "No such document in the caller's tenant (RES_001)", body = ErrorEnvelope),
        (status = 415, description = "Not application/json (REQ_003)", body = ErrorEnvelope),
        (status = 422, description = "Invalid or empty body, or a patient_id of no patient of this tenant (VAL_001, with details)", body = ErrorEnvelope),
    ))]
pub async fn update_document(
    scope: Scope,
    RawId(raw): RawId,
    body: Result<ApiJson<UpdateDocument>, ApiError>,
) -> Result<Json<DocumentResponse>, ApiError> {
    let mut permit = scope
        .require(
            WRITERS,
            Access::new("document.update", RESOURCE).on(raw.as_str()),
        )
        .await?;
    let id = permit.id(&raw).await?;
    let ApiJson(body) = body?;
    let patch = body.validate()?;
    let (mut tx, phi) = permit.begin_phi().await?;
    let updated = match documents::update(&mut tx, &phi, id, patch).await {
        Ok(updated) => updated,
        Err(error) => {
            drop(tx);
            return Err(write_error(&permit, error).await);
        }
    };
    let Some(updated) = updated else {
        // Missing, deleted or another tenant's: nothing changed; the attempt is recorded.
        tx.deny();
        tx.commit().await?;
        return Err(ApiError::new(codes::RES_001));
    };
    tx.audit_changed(&updated.changed_fields);
    tx.commit().await?;
    Ok(Json(updated.row.into()))
}
