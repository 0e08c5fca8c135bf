//! `POST /api/v1/documents` (with `Idempotency-Key`) and `PATCH /api/v1/documents/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use haven_db::audit::AuditOutcome;
use haven_db::documents::{self, CreateOutcome, Document};
use haven_db::tenant::TenantTx;

use super::body::{CreateDocument, UpdateDocument, request_hash};
use super::upload::{self, CreatedDocument, UploadInstructions};
use super::validate::{self, write_error};
use super::{DocumentResponse, RESOURCE, WRITERS, document_id};
use crate::audit_log::{Access, AuditContext};
use crate::error::{ApiError, codes};
use crate::extract::ApiJson;
use crate::openapi::ErrorEnvelope;
use crate::principal::Principal;
use crate::routes::params::RawId;
use crate::state::AppState;

fn created(document: Document, upload: Option<UploadInstructions>, replayed: bool) -> Response {
    let location = format!("/api/v1/documents/{}", document.id);
    let body = CreatedDocument {
        document: DocumentResponse::from(document),
        upload,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// Creates a document (editor or admin). With an `Idempotency-Key` (1 to 255 printable ASCII
/// characters, scoped to the caller), a retry with the same body answers 201 with the document
/// first created (header `Idempotent-Replayed: true`) and creates nothing; the same key with a
/// different body is 422 IDEM_001. With `sha256` the document awaits its file: the response's
/// `upload` is the presigned PUT to send it with (then `POST /documents/{id}/complete`).
#[utoipa::path(post, path = "/documents", tag = "documents", operation_id = "create_document",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, description = "Makes retries safe: 1 to 255 printable ASCII characters")),
    request_body = CreateDocument,
    responses(
        (status = 201, body = CreatedDocument, headers(("Location" = String, description = "The new document's URL"))),
        (status = 400, description = "The body is not JSON (REQ_005)", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "The caller's roles do not allow changing documents (AUTH_009)", body = ErrorEnvelope),
        (status = 409, description = "The document created under this Idempotency-Key was deleted since (RES_002)", body = ErrorEnvelope),
        (status = 415, description = "Not application/json (REQ_003)", body = ErrorEnvelope),
        (status = 422, description = "Invalid body or Idempotency-Key (VAL_001, with details), or the key was used with another body (IDEM_001)", body = ErrorEnvelope),
        (status = 503, description = "`sha256` sent but storage is not configured (STORAGE_001) or unavailable (STORAGE_002)", body = ErrorEnvelope),
    ))]
pub async fn create_document(
    State(state): State<AppState>,
    principal: Principal,
    audit: AuditContext,
    headers: HeaderMap,
    body: Result<ApiJson<CreateDocument>, ApiError>,
) -> Result<Response, ApiError> {
    const ACTION: &str = "document.create";
    audit
        .require_any(&state, &principal, WRITERS, Access::new(ACTION, RESOURCE))
        .await?;
    let key = validate::idempotency_key(&headers)?;
    let ApiJson(body) = body?;
    let sha256 = body.sha256.clone();
    let new = body.validate()?;
    let store = match &sha256 {
        Some(sha256) => {
            let store = state.storage()?;
            upload::validate(store.storage.settings(), &new, sha256)?;
            Some(store)
        }
        None => None,
    };
    let tenant = principal.tenant_id;
    let mut tx = TenantTx::begin(&state.pool, tenant).await?;
    let (document, replayed) = match &key {
        None => (
            documents::create(&mut tx, tenant, principal.user_id, &new)
                .await
                .map_err(write_error)?,
            false,
        ),
        Some(key) => {
            let hash = upload::bind_hash(request_hash(&new), sha256.as_deref());
            match documents::create_idempotent(&mut tx, tenant, principal.user_id, key, &hash, &new)
                .await
                .map_err(write_error)?
            {
                CreateOutcome::Created(document) => (document, false),
                CreateOutcome::Replayed(document) => (document, true),
                CreateOutcome::KeyReusedWithDifferentBody => {
                    tx.rollback().await?;
                    return Err(ApiError::new(codes::IDEM_001));
                }
            }
        }
    };
    let (document, upload) = match (store, &sha256) {
        (Some(store), Some(sha256)) => {
            upload::attach(&mut tx, store, document, sha256, replayed).await?
        }
        _ => (document, None),
    };
    let resource_id = document.id.to_string();
    // A replay creates nothing: it is recorded as what it is, a read of the first result.
    let action = if replayed {
        "document.create_replayed"
    } else {
        ACTION
    };
    let access = Access::new(action, RESOURCE).on(&resource_id);
    let outcome = if document.deleted_at.is_some() {
        AuditOutcome::Denied
    } else {
        AuditOutcome::Success
    };
    haven_db::audit::record(&mut tx, &audit.event(&principal, access, outcome)).await?;
    tx.commit().await?;
    if document.deleted_at.is_some() {
        return Err(ApiError::new(codes::RES_002).with_message(
            "The document created under this Idempotency-Key has been deleted since",
        ));
    }
    Ok(created(document, upload, replayed))
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
        (status = 422, description = "Invalid or empty body (VAL_001, with details)", body = ErrorEnvelope),
    ))]
pub async fn update_document(
    State(state): State<AppState>,
    principal: Principal,
    audit: AuditContext,
    RawId(raw): RawId,
    body: Result<ApiJson<UpdateDocument>, ApiError>,
) -> Result<Json<DocumentResponse>, ApiError> {
    const ACTION: &str = "document.update";
    audit
        .require_any(
            &state,
            &principal,
            WRITERS,
            Access::new(ACTION, RESOURCE).on(&raw),
        )
        .await?;
    let id = document_id(&state, &principal, &audit, ACTION, &raw).await?;
    let ApiJson(body) = body?;
    let patch = body.validate()?;
    let resource_id = id.to_string();
    let access = Access::new(ACTION, RESOURCE).on(&resource_id);
    let mut tx = TenantTx::begin(&state.pool, principal.tenant_id).await?;
    let updated = documents::update(&mut tx, principal.tenant_id, id, patch)
        .await
        .map_err(write_error)?;
    let Some(updated) = updated else {
        // Missing, deleted or another tenant's: nothing changed; the attempt is recorded.
        haven_db::audit::record(
            &mut tx,
            &audit.event(&principal, access, AuditOutcome::Denied),
        )
        .await?;
        tx.commit().await?;
        return Err(ApiError::new(codes::RES_001));
    };
    let mut event = audit.event(&principal, access, AuditOutcome::Success);
    event.changed_fields = Some(&updated.changed_fields);
    haven_db::audit::record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(Json(updated.document.into()))
}
