//! `GET /api/v1/documents`: the tenant's live documents, newest first, cursor-paginated.

use axum::Json;
use haven_db::documents::{self, DocumentFilter};
use haven_db::ids::PatientId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{DocumentResponse, DocumentStatus, READERS, RESOURCE};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::openapi::{Denied, ErrorEnvelope};
use crate::routes::params::{self, Paging, Problems};
use crate::scope::{Access, Scope};

/// Query parameters of the document list. Unknown parameters are refused (422).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListDocumentsQuery {
    /// The `next_cursor` of the previous page; absent (not empty) for the first page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// Only documents with this status.
    #[param(value_type = Option<DocumentStatus>)]
    pub status: Option<String>,
    /// Only this patient's documents.
    #[param(value_type = Option<uuid::Uuid>)]
    pub patient_id: Option<String>,
    /// Only documents created at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub created_from: Option<String>,
    /// Only documents created before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub created_to: Option<String>,
}

/// One page of documents.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentPage {
    pub items: Vec<DocumentResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn status(text: Option<&str>) -> Result<Option<DocumentStatus>, String> {
    match text {
        None => Ok(None),
        Some(text) => serde_json::from_value(serde_json::Value::String(text.to_owned()))
            .map(Some)
            .map_err(|_| "must be one of pending, processing, ready, failed, archived".to_owned()),
    }
}

/// The filter and page of a list request, or 422 naming every bad parameter.
fn parse(query: ListDocumentsQuery) -> Result<(DocumentFilter, Paging), ApiError> {
    let mut problems = Problems::default();
    let paging = problems.paging(query.cursor.as_deref(), query.limit.as_deref());
    let status = problems.take("status", status(query.status.as_deref()));
    let patient_id = problems.take(
        "patient_id",
        params::id::<PatientId>(query.patient_id.as_deref()),
    );
    let created_from = problems.take(
        "created_from",
        params::timestamp(query.created_from.as_deref()),
    );
    let created_to = problems.take("created_to", params::timestamp(query.created_to.as_deref()));
    problems.finish()?;
    let filter = DocumentFilter {
        status: status.flatten().map(Into::into),
        patient_id: patient_id.flatten(),
        created_from: created_from.flatten(),
        created_to: created_to.flatten(),
    };
    Ok((filter, paging))
}

/// Lists the caller's tenant's documents, newest first (viewer, editor or admin). Walking the
/// pages returns every document that existed when the walk began exactly once, whatever is
/// created meanwhile.
#[utoipa::path(get, path = "/api/v1/documents", tag = "documents", operation_id = "list_documents",
    security(("bearer" = [])),
    params(ListDocumentsQuery),
    responses(
        (status = 200, body = DocumentPage),
        Denied,
        (status = 422, description = "Bad cursor, limit, status, patient id or time (VAL_001, with details)", body = ErrorEnvelope),
    ))]
pub async fn list_documents(
    scope: Scope,
    query: Result<ApiQuery<ListDocumentsQuery>, ApiError>,
) -> Result<Json<DocumentPage>, ApiError> {
    let permit = scope
        .require(READERS, Access::new("document.list", RESOURCE))
        .await?;
    let (filter, paging) = permit.input(query.and_then(|ApiQuery(q)| parse(q))).await?;
    let (mut tx, phi) = permit.begin_phi().await?;
    let page =
        documents::list(&mut tx, &phi, &filter, paging.cursor.as_ref(), paging.limit).await?;
    tx.audit_returned(page.items.iter().map(|d| d.id.as_uuid()));
    tx.commit().await?;
    let (items, next_cursor) = params::page(page);
    Ok(Json(DocumentPage { items, next_cursor }))
}
