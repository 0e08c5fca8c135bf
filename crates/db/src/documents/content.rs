//! A document's content life cycle: the upload it awaits, completion, audited download reads.

use sqlx::PgConnection;
use time::OffsetDateTime;

use super::DocumentStatus;
use crate::audit::{AuditOutcome, NewAuditEvent};
use crate::ids::{DocumentId, TenantId};
use crate::tenant::TenantTx;

/// What the content endpoints need of a live document.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ContentState {
    pub id: DocumentId,
    pub tenant_id: TenantId,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub status: DocumentStatus,
    /// `None`: the document was created without an upload.
    pub content_sha256: Option<String>,
    pub content_verified_at: Option<OffsetDateTime>,
    pub upload_failure: Option<String>,
}

impl ContentState {
    /// Completed and ready: a download URL may be issued.
    pub fn is_downloadable(&self) -> bool {
        self.status == DocumentStatus::Ready && self.content_verified_at.is_some()
    }

    /// Created for an upload that has not been completed or refused yet.
    pub fn awaits_upload(&self) -> bool {
        self.status == DocumentStatus::Pending
            && self.content_sha256.is_some()
            && self.content_verified_at.is_none()
    }
}

macro_rules! content_columns {
    () => {
        "id, tenant_id, filename, content_type, size_bytes, status, content_sha256, \
         content_verified_at, upload_failure"
    };
}

/// Records the upload a new document awaits: its declared SHA-256 and its server-built key
/// (shown as `storage_location`). Same transaction as the create.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, document_id = %id))]
pub async fn attach_upload(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: DocumentId,
    sha256: &str,
    key: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "update documents set content_sha256 = $3, storage_location = $4 \
         where tenant_id = $1 and id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(sha256)
    .bind(key)
    .execute(conn)
    .await?;
    Ok(())
}

/// The live document's content state; `None` when missing, deleted or another tenant's.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, document_id = %id))]
pub async fn content_state(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: DocumentId,
) -> Result<Option<ContentState>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        content_columns!(),
        " from documents where tenant_id = $1 and id = $2 and deleted_at is null"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Reads the document and records `event` in one statement (the download's PHI access): its
/// outcome is `event.outcome` when the document is downloadable, `Denied` otherwise (missing,
/// another tenant's, not ready). `None` when there is no live document.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, document_id = %id))]
pub async fn download_audited(
    tx: &mut TenantTx<'_>,
    tenant: TenantId,
    id: DocumentId,
    event: &NewAuditEvent<'_>,
) -> Result<Option<ContentState>, sqlx::Error> {
    let found: Option<ContentState> = sqlx::query_as(concat!(
        "with found as (select ",
        content_columns!(),
        "  from documents where tenant_id = $1 and id = $2 and deleted_at is null),",
        " recorded as (insert into audit_events (tenant_id, actor_user_id, actor_subject, action,",
        "  resource_type, resource_id, outcome, request_id, client_ip, user_agent, emergency)",
        "  select $3, $4, $5, $6, $7, $8,",
        "  case when exists (select 1 from found where status = 'ready'",
        "   and content_verified_at is not null) then $9 else $10 end,",
        "  $11, $12::inet, $13, $14)",
        " select * from found"
    ))
    .bind(tenant)
    .bind(id)
    .bind(event.tenant_id)
    .bind(event.actor_user_id)
    .bind(event.actor_subject)
    .bind(event.action)
    .bind(event.resource_type)
    .bind(event.resource_id)
    .bind(event.outcome)
    .bind(AuditOutcome::Denied)
    .bind(event.request_id)
    .bind(event.client_ip.map(|ip| ip.to_string()))
    .bind(event.user_agent.map(crate::audit::truncate_user_agent))
    .bind(event.emergency)
    .fetch_optional(tx.as_mut())
    .await?;
    let outcome = match &found {
        Some(state) if state.is_downloadable() => event.outcome,
        _ => AuditOutcome::Denied,
    };
    tx.audited(event.action, outcome);
    Ok(found)
}

/// Moves a document awaiting its upload to `ready`. `None` when it no longer awaits one (a
/// concurrent completion won, or it was deleted): the caller re-reads and answers from that.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, document_id = %id))]
pub async fn mark_ready(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: DocumentId,
) -> Result<Option<ContentState>, sqlx::Error> {
    sqlx::query_as(concat!(
        "update documents set status = 'ready', content_verified_at = now(), updated_at = now()",
        " where tenant_id = $1 and id = $2 and deleted_at is null and status = 'pending'",
        " and content_sha256 is not null and content_verified_at is null returning ",
        content_columns!()
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Moves a document awaiting its upload to `failed` with `reason` (its object already deleted).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, document_id = %id))]
pub async fn mark_failed(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: DocumentId,
    reason: &str,
) -> Result<Option<ContentState>, sqlx::Error> {
    sqlx::query_as(concat!(
        "update documents set status = 'failed', upload_failure = $3, updated_at = now()",
        " where tenant_id = $1 and id = $2 and deleted_at is null and status = 'pending'",
        " and content_sha256 is not null and content_verified_at is null returning ",
        content_columns!()
    ))
    .bind(tenant)
    .bind(id)
    .bind(reason)
    .fetch_optional(conn)
    .await
}
