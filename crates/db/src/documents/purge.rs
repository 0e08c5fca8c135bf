//! The retention purge (`haven documents purge`): owner maintenance across tenants, one claimed
//! document at a time, so several purges can run at once and a killed one can simply rerun.

use std::future::Future;

use time::OffsetDateTime;

use crate::ids::{DocumentId, TenantId};
use crate::unscoped::UnscopedTx;

/// The audit action of a purged document's object.
pub const PURGE_ACTION: &str = "document.purge";
/// `actor_subject` of the purge's audit events (an operator command, no user).
pub const PURGE_ACTOR: &str = "haven-cli:documents-purge";
/// `actor_subject` of the deletions and purges of `haven tenants offboard`.
pub const OFFBOARD_ACTOR: &str = "haven-cli:tenants-offboard";

/// A soft-deleted document whose object is due for deletion.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Purgeable {
    pub id: DocumentId,
    pub tenant_id: TenantId,
    pub deleted_at: OffsetDateTime,
}

/// Why one purge step stopped.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError<E: std::error::Error + 'static> {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("deleting the object: {0}")]
    Delete(#[source] E),
}

/// Owner command (not tenant-scoped): up to `limit` documents deleted before `before` whose
/// object is not purged yet, oldest first (`--dry-run`). `tenant` narrows to one tenant.
#[tracing::instrument(skip_all)]
pub async fn admin_list_purgeable(
    pool: &sqlx::PgPool,
    before: OffsetDateTime,
    tenant: Option<TenantId>,
    limit: i64,
) -> Result<Vec<Purgeable>, sqlx::Error> {
    let mut tx = UnscopedTx::begin(pool).await?;
    let rows = sqlx::query_as(
        "select id, tenant_id, deleted_at from documents \
         where deleted_at < $1 and purged_at is null and content_sha256 is not null \
         and ($2::uuid is null or tenant_id = $2) order by deleted_at, id limit $3",
    )
    .bind(before)
    .bind(tenant)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// Owner command (not tenant-scoped), offboarding a tenant: soft-deletes every live document of
/// `tenant`, with a `document.delete` event each in its audit trail; the number deleted. The
/// purge then takes them like any deleted document.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn admin_delete_all(pool: &sqlx::PgPool, tenant: TenantId) -> Result<u64, sqlx::Error> {
    let mut tx = UnscopedTx::begin(pool).await?;
    let done = sqlx::query(
        "with deleted as (update documents set deleted_at = now(), updated_at = now() \
           where tenant_id = $1 and deleted_at is null returning id) \
         insert into audit_events (tenant_id, actor_subject, action, resource_type, \
           resource_id, outcome) \
         select $1, $2, 'document.delete', 'document', id::text, 'success' from deleted",
    )
    .bind(tenant)
    .bind(OFFBOARD_ACTOR)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// Owner command (not tenant-scoped): purges the next eligible document, or returns `None`
/// when none is left. Its `document.purge` event names `actor` ([`PURGE_ACTOR`] or
/// [`OFFBOARD_ACTOR`]).
///
/// One transaction per document: the row is claimed with `for update skip locked` (a
/// concurrent purge skips it and takes the next), `delete` removes the object while the claim
/// is held, then the row is marked `purged_at` and a `document.purge` event is written to its
/// tenant's audit trail, and the transaction commits. Killed at any point, the claim is
/// released with nothing marked, and a rerun deletes that object again (deleting a missing
/// object succeeds), so every eligible object ends up deleted and every row marked.
#[tracing::instrument(skip_all)]
pub async fn admin_purge_next<F, Fut, E>(
    pool: &sqlx::PgPool,
    before: OffsetDateTime,
    tenant: Option<TenantId>,
    actor: &str,
    delete: F,
) -> Result<Option<Purgeable>, PurgeError<E>>
where
    F: FnOnce(&Purgeable) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error + 'static,
{
    let mut tx = UnscopedTx::begin(pool).await?;
    let claimed: Option<Purgeable> = sqlx::query_as(
        "select id, tenant_id, deleted_at from documents \
         where deleted_at < $1 and purged_at is null and content_sha256 is not null \
         and ($2::uuid is null or tenant_id = $2) \
         order by deleted_at, id limit 1 for update skip locked",
    )
    .bind(before)
    .bind(tenant)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(document) = claimed else {
        tx.rollback().await?;
        return Ok(None);
    };
    delete(&document).await.map_err(PurgeError::Delete)?;
    sqlx::query(
        "with marked as (update documents set purged_at = now() \
           where tenant_id = $1 and id = $2) \
         insert into audit_events (tenant_id, actor_subject, action, resource_type, \
           resource_id, outcome) values ($1, $3, $4, 'document', $2::text, 'success')",
    )
    .bind(document.tenant_id)
    .bind(document.id)
    .bind(actor)
    .bind(PURGE_ACTION)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(document))
}
