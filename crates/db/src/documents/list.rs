//! The document list: newest first, keyset-paginated, filtered by status, patient and creation
//! time.

use sqlx::{Postgres, QueryBuilder};
use time::OffsetDateTime;

use super::sealed::StoredDocument;
use super::{Document, DocumentStatus, columns};
use crate::fields::FieldCipher;
use crate::ids::PatientId;
use crate::page::{Cursor, Page, PageLimit};
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
///
/// The statement is built with only the predicates in use (values always bound), so each shape
/// is its own prepared statement whose plan keeps the cursor as an index range condition; a
/// catch-all `($n is null or ...)` form would let a generic plan fall back to filtering.
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
    if let Some(cursor) = after {
        query
            .push(" and (created_at, id) < (")
            .push_bind(cursor.at)
            .push(", ")
            .push_bind(cursor.id)
            .push(")");
    }
    query
        .push(" order by created_at desc, id desc limit ")
        .push_bind(limit.fetch());
    let rows: Vec<StoredDocument> = query.build_query_as().fetch_all(tx.as_mut()).await?;
    let page = Page::from_rows(rows, limit, |d| Cursor::new(d.created_at, d.id.as_uuid()));
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|d| d.open(cipher))
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor,
    })
}
