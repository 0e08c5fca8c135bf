//! Document writes: create (optionally idempotent) and partial update.

use sqlx::PgConnection;

use super::{Document, DocumentStatus, columns};
use crate::ids::{DocumentId, TenantId, UserId};

/// A document to create. The API has validated it against the limits in `documents`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDocument {
    pub title: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub status: DocumentStatus,
    /// Must be a JSON object.
    pub metadata: serde_json::Value,
    pub storage_location: Option<String>,
}

/// What `create_idempotent` did with the request.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    /// The key was new: the document was created in this transaction.
    Created(Document),
    /// The key was used before with the same request hash: the document created then (as it is
    /// now, possibly updated or soft-deleted since). Nothing new was created.
    Replayed(Document),
    /// The key was used before with a different request hash: nothing was created.
    KeyReusedWithDifferentBody,
}

/// Creates a document in the caller's transaction.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, user_id = %created_by))]
pub async fn create(
    conn: &mut PgConnection,
    tenant: TenantId,
    created_by: UserId,
    new: &NewDocument,
) -> Result<Document, sqlx::Error> {
    sqlx::query_as(concat!(
        "insert into documents (tenant_id, created_by, title, filename, content_type, size_bytes,",
        " status, metadata, storage_location) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        " returning ",
        columns!()
    ))
    .bind(tenant)
    .bind(created_by)
    .bind(&new.title)
    .bind(&new.filename)
    .bind(&new.content_type)
    .bind(new.size_bytes)
    .bind(new.status)
    .bind(&new.metadata)
    .bind(&new.storage_location)
    .fetch_one(conn)
    .await
}

/// Creates a document under an `Idempotency-Key` (scoped to tenant and user), in the caller's
/// transaction (READ COMMITTED, as `TenantTx` opens it).
///
/// The key row is claimed first with `insert ... on conflict do nothing`. A concurrent request
/// with the same key blocks on that insert until the first transaction ends: if it committed,
/// the insert does nothing and a fresh read finds its key row (replay, or a different body); if
/// it rolled back, this one claims the key. So two identical requests racing create one document.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, user_id = %user))]
pub async fn create_idempotent(
    conn: &mut PgConnection,
    tenant: TenantId,
    user: UserId,
    key: &str,
    request_hash: &[u8],
    new: &NewDocument,
) -> Result<CreateOutcome, sqlx::Error> {
    let claimed = sqlx::query(
        "insert into idempotency_keys (tenant_id, user_id, key, request_hash) \
         values ($1, $2, $3, $4) on conflict do nothing",
    )
    .bind(tenant)
    .bind(user)
    .bind(key)
    .bind(request_hash)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if claimed {
        // The document and the key's link to it in one statement.
        let document = sqlx::query_as(concat!(
            "with created as (",
            "  insert into documents (tenant_id, created_by, title, filename, content_type,",
            "  size_bytes, status, metadata, storage_location)",
            "  values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning ",
            columns!(),
            "), linked as (",
            "  update idempotency_keys set document_id = (select id from created)",
            "  where tenant_id = $1 and user_id = $2 and key = $10",
            ") select * from created"
        ))
        .bind(tenant)
        .bind(user)
        .bind(&new.title)
        .bind(&new.filename)
        .bind(&new.content_type)
        .bind(new.size_bytes)
        .bind(new.status)
        .bind(&new.metadata)
        .bind(&new.storage_location)
        .bind(key)
        .fetch_one(&mut *conn)
        .await?;
        return Ok(CreateOutcome::Created(document));
    }
    let (same_body, document_id): (bool, Option<DocumentId>) = sqlx::query_as(
        "select request_hash = $4, document_id from idempotency_keys \
         where tenant_id = $1 and user_id = $2 and key = $3",
    )
    .bind(tenant)
    .bind(user)
    .bind(key)
    .bind(request_hash)
    .fetch_one(&mut *conn)
    .await?;
    if !same_body {
        return Ok(CreateOutcome::KeyReusedWithDifferentBody);
    }
    // The key and its document are written by one committed statement, so a key without a
    // document means the rows were edited by hand.
    let document_id = document_id.ok_or(sqlx::Error::RowNotFound)?;
    let document = sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from documents where tenant_id = $1 and id = $2"
    ))
    .bind(tenant)
    .bind(document_id)
    .fetch_one(conn)
    .await?;
    Ok(CreateOutcome::Replayed(document))
}

/// A partial update: `None` leaves a field as it is. `storage_location: Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocumentPatch {
    pub title: Option<String>,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub size_bytes: Option<i64>,
    pub status: Option<DocumentStatus>,
    pub metadata: Option<serde_json::Value>,
    pub storage_location: Option<Option<String>>,
}

/// The document after an update and the names of the fields whose value changed (for the audit
/// event: names, never values). Empty when the patch changed nothing; nothing was written then.
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    pub document: Document,
    pub changed_fields: Vec<&'static str>,
}

fn apply<T: PartialEq>(
    name: &'static str,
    current: &mut T,
    new: Option<T>,
    changed: &mut Vec<&'static str>,
) {
    if let Some(new) = new
        && *current != new
    {
        *current = new;
        changed.push(name);
    }
}

/// Applies `patch` to a live document. `None` when it is missing, soft-deleted or another
/// tenant's. The row is locked first, so concurrent updates apply one after the other and each
/// reports exactly the fields it changed.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, document_id = %id))]
pub async fn update(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: DocumentId,
    patch: DocumentPatch,
) -> Result<Option<Updated>, sqlx::Error> {
    let current: Option<Document> = sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from documents where tenant_id = $1 and id = $2 and deleted_at is null for update"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(mut doc) = current else {
        return Ok(None);
    };
    let mut changed = Vec::new();
    apply("title", &mut doc.title, patch.title, &mut changed);
    apply("filename", &mut doc.filename, patch.filename, &mut changed);
    apply(
        "content_type",
        &mut doc.content_type,
        patch.content_type,
        &mut changed,
    );
    apply(
        "size_bytes",
        &mut doc.size_bytes,
        patch.size_bytes,
        &mut changed,
    );
    apply("status", &mut doc.status, patch.status, &mut changed);
    apply("metadata", &mut doc.metadata, patch.metadata, &mut changed);
    apply(
        "storage_location",
        &mut doc.storage_location,
        patch.storage_location,
        &mut changed,
    );
    if changed.is_empty() {
        return Ok(Some(Updated {
            document: doc,
            changed_fields: changed,
        }));
    }
    let document = sqlx::query_as(concat!(
        "update documents set title = $3, filename = $4, content_type = $5, size_bytes = $6,",
        " status = $7, metadata = $8, storage_location = $9, updated_at = now()",
        " where tenant_id = $1 and id = $2 returning ",
        columns!()
    ))
    .bind(tenant)
    .bind(id)
    .bind(&doc.title)
    .bind(&doc.filename)
    .bind(&doc.content_type)
    .bind(doc.size_bytes)
    .bind(doc.status)
    .bind(&doc.metadata)
    .bind(&doc.storage_location)
    .fetch_one(conn)
    .await?;
    Ok(Some(Updated {
        document,
        changed_fields: changed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_reports_only_fields_whose_value_differs() {
        let mut changed = Vec::new();
        let mut title = "a".to_owned();
        let mut size = 3_i64;
        apply("title", &mut title, Some("a".to_owned()), &mut changed);
        apply("size_bytes", &mut size, Some(4), &mut changed);
        apply("size_bytes", &mut size, None, &mut changed);
        assert_eq!(changed, vec!["size_bytes"]);
        assert_eq!(size, 4);
    }
}
