//! `/api/v1/patients`: create (with `Idempotency-Key`), read, partial update, soft delete, and
//! the list with exact-match filters, built only with the kit (`Scope`, `TenantTx`). Every
//! access, and every refused attempt, leaves one audit event.

mod body;

pub use body::{CreatePatient, PatientResponse, UpdatePatient};

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use haven_db::idempotency::Link;
use haven_db::patients::{self, MRN_UNIQUE, Patient, PatientFields, PatientFilter};
use haven_db::resource;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, codes};
use crate::extract::{ApiJson, ApiQuery};
use crate::openapi::{Denied, ErrorEnvelope, NotFound};
use crate::routes::documents::{READERS, WRITERS};
use crate::routes::input::{self, created};
use crate::routes::params::{self, Paging, Problems, RawId};
use crate::scope::{Access, Scope, WriteError, found, settle_create, settle_delete, settle_update};

/// The audit `resource_type` of patients.
pub const RESOURCE: &str = "patient";

/// A write's database error: a taken `mrn` is 409 RES_002, recorded as a refusal.
fn write_error(error: sqlx::Error) -> WriteError {
    let taken =
        ApiError::new(codes::RES_002).with_message("Another patient of this tenant has this mrn");
    input::refused_on(error, "patients", ("23505", MRN_UNIQUE), taken)
}

/// Fetches one patient of the caller's tenant (viewer, editor, admin or break-glass).
#[utoipa::path(get, path = "/api/v1/patients/{id}", tag = "patients", operation_id = "get_patient",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The patient id")),
    responses(
        (status = 200, body = PatientResponse),
        Denied,
        NotFound,
    ))]
pub async fn get_patient(
    scope: Scope,
    RawId(raw): RawId,
) -> Result<Json<PatientResponse>, ApiError> {
    let access = Access::new("patient.read", RESOURCE);
    let (permit, id) = scope.require_id(READERS, access, &raw).await?;
    let (mut tx, phi) = permit.begin_phi().await?;
    let patient: Option<Patient> = resource::get(&mut tx, &phi, id).await?;
    tx.commit().await?;
    Ok(Json(found(patient)?.into()))
}

/// Query parameters of the patient list: exact matches only. Unknown parameters are refused.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListPatientsQuery {
    /// The `next_cursor` of the previous page; absent (not empty) for the first page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Only the patient with exactly this medical record number.
    #[param(min_length = 1, max_length = 64)]
    pub mrn: Option<String>,
    /// Only patients with this family name (exact, case-insensitive).
    #[param(min_length = 1, max_length = 200)]
    pub family_name: Option<String>,
    /// Only patients born on this date (`YYYY-MM-DD`).
    #[param(value_type = Option<String>, format = Date)]
    pub birth_date: Option<String>,
}

/// One page of patients.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientPage {
    pub items: Vec<PatientResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The filter and page of a list request, or 422 naming every bad parameter.
fn parse(q: ListPatientsQuery) -> Result<(PatientFilter, Paging), ApiError> {
    Problems::check(|p| {
        let paging = p.paging(q.cursor.as_deref(), q.limit.as_deref());
        let filter = PatientFilter {
            mrn: p.param("mrn", params::text(q.mrn.as_deref(), 64)),
            family_name: p.param("family_name", params::text(q.family_name.as_deref(), 200)),
            birth_date: p.param("birth_date", params::date(q.birth_date.as_deref())),
        };
        (filter, paging)
    })
}

/// Lists the caller's tenant's patients, newest first, filtered by exact matches (viewer,
/// editor, admin or break-glass). Walking the pages returns every patient that existed when the
/// walk began exactly once, whatever is created meanwhile.
#[utoipa::path(get, path = "/api/v1/patients", tag = "patients", operation_id = "list_patients",
    security(("bearer" = [])),
    params(ListPatientsQuery),
    responses(
        (status = 200, body = PatientPage),
        Denied,
        (status = 422, description = "Bad cursor, limit or filter (VAL_001, with details)", body = ErrorEnvelope),
    ))]
pub async fn list_patients(
    scope: Scope,
    query: Result<ApiQuery<ListPatientsQuery>, ApiError>,
) -> Result<Json<PatientPage>, ApiError> {
    let permit = scope
        .require(READERS, Access::new("patient.list", RESOURCE))
        .await?;
    let (filter, paging) = permit.input(query.and_then(|ApiQuery(q)| parse(q))).await?;
    let (mut tx, phi) = permit.begin_phi().await?;
    let page = patients::list(&mut tx, &phi, &filter, paging.cursor.as_ref(), paging.limit).await?;
    tx.audit_returned(page.items.iter().map(|p| p.id.as_uuid()));
    tx.commit().await?;
    let (items, next_cursor) = params::page(page);
    Ok(Json(PatientPage { items, next_cursor }))
}

/// Creates a patient (editor or admin). With an `Idempotency-Key` (1 to 255 printable ASCII
/// characters, scoped to the caller), a retry with the same body answers 201 with the patient
/// first created (header `Idempotent-Replayed: true`) and creates nothing; the same key with a
/// different body is 422 IDEM_001.
#[utoipa::path(post, path = "/api/v1/patients", tag = "patients", operation_id = "create_patient",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, description = "Makes retries safe: 1 to 255 printable ASCII characters")),
    request_body = CreatePatient,
    responses(
        (status = 201, body = PatientResponse, headers(("Location" = String, description = "The new patient's URL"))),
        Denied,
        (status = 409, description = "Another patient has this mrn, or the patient created under this Idempotency-Key was deleted since (RES_002)", body = ErrorEnvelope),
        (status = 422, description = "Invalid body or Idempotency-Key (VAL_001, with details), or the key was used with another body (IDEM_001)", body = ErrorEnvelope),
    ))]
pub async fn create_patient(
    scope: Scope,
    headers: HeaderMap,
    body: Result<ApiJson<CreatePatient>, ApiError>,
) -> Result<Response, ApiError> {
    let permit = scope
        .require(WRITERS, Access::new("patient.create", RESOURCE))
        .await?;
    let checked = input::idempotency_key(&headers).and_then(|key| Ok((key, body?.0.validate()?)));
    let (key, new) = permit.input(checked).await?;
    let hash = input::resource_hash(RESOURCE, &new)?;
    let (mut tx, phi) = permit.begin_phi().await?;
    let key = (permit.key(key.as_deref(), &hash), Link::Patient);
    let written = resource::create(&mut tx, &phi, &new, key).await;
    let (tx, outcome) = permit.written(written, tx, write_error).await?;
    let (patient, replayed) = settle_create(tx, outcome, "patient.create_replayed").await?;
    let location = format!("/api/v1/patients/{}", patient.id);
    Ok(created(location, PatientResponse::from(patient), replayed))
}

/// Changes some fields of a patient (editor or admin). The audit event names the fields whose
/// value changed, never the values.
#[utoipa::path(patch, path = "/api/v1/patients/{id}", tag = "patients", operation_id = "update_patient",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The patient id")),
    request_body = UpdatePatient,
    responses(
        (status = 200, body = PatientResponse),
        Denied,
        NotFound,
        (status = 409, description = "Another patient has this mrn (RES_002)", body = ErrorEnvelope),
        (status = 422, description = "Invalid or empty body (VAL_001, with details)", body = ErrorEnvelope),
    ))]
pub async fn update_patient(
    scope: Scope,
    RawId(raw): RawId,
    body: Result<ApiJson<UpdatePatient>, ApiError>,
) -> Result<Json<PatientResponse>, ApiError> {
    let access = Access::new("patient.update", RESOURCE);
    let (permit, id) = scope.require_id(WRITERS, access, &raw).await?;
    // After the id: a bad body on another tenant's id is recorded with that id.
    let patch = permit
        .input(body.and_then(|ApiJson(body)| body.validate()))
        .await?;
    let (mut tx, phi) = permit.begin_phi().await?;
    let written = patients::update(&mut tx, &phi, id, patch).await;
    let (tx, updated) = permit.written(written, tx, write_error).await?;
    Ok(Json(settle_update(tx, updated).await?.into()))
}

/// Soft-deletes a patient (editor or admin): gone from reads and lists afterwards; its mrn may
/// be given to a new patient.
#[utoipa::path(delete, path = "/api/v1/patients/{id}", tag = "patients", operation_id = "delete_patient",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The patient id")),
    responses(
        (status = 204, description = "Deleted"),
        Denied,
        NotFound,
    ))]
pub async fn delete_patient(scope: Scope, RawId(raw): RawId) -> Result<StatusCode, ApiError> {
    let access = Access::new("patient.delete", RESOURCE);
    let (permit, id) = scope.require_id(WRITERS, access, &raw).await?;
    let mut tx = permit.begin().await?;
    let deleted = resource::soft_delete::<PatientFields>(&mut tx, id).await?;
    settle_delete(tx, deleted).await
}
