//! The document list: newest first, keyset-paginated, filtered by status, patient and creation
//! time.

use sqlx::postgres::PgRow;
use sqlx::{FromRow, Postgres, QueryBuilder};
use time::OffsetDateTime;

use super::sealed::StoredDocument;
use super::{Document, DocumentStatus, columns};
use crate::fields::FieldCipher;
use crate::ids::PatientId;
use crate::page::{self, Cursor, Page, PageLimit};
use crate::tenant::TenantTx;

/// Filters of `GET /api/v1/documents`; `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentFilter {
    pub status: Option<DocumentStatus>,
    /// Only this patient's documents.
    pub patient_id: Option<PatientId>,
    /// Created at or after (inclusive).
    pub created_from: Option<OffsetDateTime>,
    /// Created before (exclusive).
    pub created_to: Option<OffsetDateTime>,
}

/// One page of the tenant's live documents, ordered by (created_at, id) descending; `after` is
/// the previous page's `next_cursor`.
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant()))]
pub async fn list(
    tx: &mut TenantTx<'_>,
    cipher: &dyn FieldCipher,
    filter: &DocumentFilter,
    after: Option<&Cursor>,
    limit: PageLimit,
) -> Result<Page<Document>, sqlx::Error> {
    let mut query = QueryBuilder::<Postgres>::new(concat!(
        "select ",
        columns!(),
        " from documents where deleted_at is null and tenant_id = "
    ));
    query.push_bind(tx.tenant());
    if let Some(status) = filter.status {
        query.push(" and status = ").push_bind(status);
    }
    if let Some(patient) = filter.patient_id {
        query.push(" and patient_id = ").push_bind(patient);
    }
    if let Some(from) = filter.created_from {
        query.push(" and created_at >= ").push_bind(from);
    }
    if let Some(to) = filter.created_to {
        query.push(" and created_at < ").push_bind(to);
    }
    let read = |row: &PgRow| StoredDocument::from_row(row)?.open(cipher);
    page::keyset(tx, query, (after, limit), read).await
}
