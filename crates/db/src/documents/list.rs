//! The document list: newest first, keyset-paginated, filtered by status and creation time.

use sqlx::{PgConnection, Postgres, QueryBuilder};
use time::OffsetDateTime;

use super::{Document, DocumentStatus, columns};
use crate::ids::TenantId;
use crate::page::{Cursor, Page, PageLimit};

/// Filters of `GET /api/v1/documents`; `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentFilter {
    pub status: Option<DocumentStatus>,
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
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn list(
    conn: &mut PgConnection,
    tenant: TenantId,
    filter: &DocumentFilter,
    after: Option<&Cursor>,
    limit: PageLimit,
) -> Result<Page<Document>, sqlx::Error> {
    let mut query = QueryBuilder::<Postgres>::new(concat!(
        "select ",
        columns!(),
        " from documents where deleted_at is null and tenant_id = "
    ));
    query.push_bind(tenant);
    if let Some(status) = filter.status {
        query.push(" and status = ").push_bind(status);
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
    let rows: Vec<Document> = query.build_query_as().fetch_all(conn).await?;
    Ok(Page::from_rows(rows, limit, |d| {
        Cursor::new(d.created_at, d.id.as_uuid())
    }))
}
