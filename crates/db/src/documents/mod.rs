//! Documents of a tenant: the row type, reads and soft delete here; list and writes in submodules.

pub mod content;
mod list;
pub mod purge;
mod write;

pub use list::{DocumentFilter, list};
pub use write::{
    CreateOutcome, DocumentPatch, NewDocument, Updated, create, create_idempotent, update,
};

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::audit::{AuditOutcome, NewAuditEvent};
use crate::ids::{DocumentId, TenantId, UserId};
use crate::tenant::TenantTx;

/// Limits the schema enforces (CHECK constraints); the API validates against the same numbers.
pub const TITLE_MAX_CHARS: usize = 500;
pub const FILENAME_MAX_CHARS: usize = 255;
pub const CONTENT_TYPE_MAX_CHARS: usize = 255;
pub const STORAGE_LOCATION_MAX_CHARS: usize = 2048;
/// Size of `metadata` as JSON text.
pub const METADATA_MAX_BYTES: usize = 65_536;
pub const IDEMPOTENCY_KEY_MAX_CHARS: usize = 255;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, sqlx::Type,
)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum DocumentStatus {
    Pending,
    Processing,
    Ready,
    Failed,
    Archived,
}

impl DocumentStatus {
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Processing,
        Self::Ready,
        Self::Failed,
        Self::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::Archived => "archived",
        }
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Document {
    pub id: DocumentId,
    pub tenant_id: TenantId,
    pub title: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub status: DocumentStatus,
    /// Always a JSON object.
    pub metadata: serde_json::Value,
    pub storage_location: Option<String>,
    pub created_by: UserId,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub deleted_at: Option<OffsetDateTime>,
}

macro_rules! columns {
    () => {
        "id, tenant_id, title, filename, content_type, size_bytes, status, metadata, \
         storage_location, created_by, created_at, updated_at, deleted_at"
    };
}
pub(crate) use columns;

/// The document, unless it is missing, soft-deleted, or another tenant's (all alike: `None`).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, document_id = %id))]
pub async fn get(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: DocumentId,
) -> Result<Option<Document>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from documents where tenant_id = $1 and id = $2 and deleted_at is null"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// [`get`] and its audit event in one statement: one round trip fewer on the hottest path. The
/// event is `event` with its outcome when the document is found, and with `outcome_if_missing`
/// (typically `Denied`: a missing id and another tenant's look the same) when it is not.
/// `event.tenant_id` must be `tenant`; the policy refuses anything else.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, document_id = %id))]
pub async fn get_audited(
    tx: &mut TenantTx<'_>,
    tenant: TenantId,
    id: DocumentId,
    event: &NewAuditEvent<'_>,
    outcome_if_missing: AuditOutcome,
) -> Result<Option<Document>, sqlx::Error> {
    // A data-modifying WITH runs whether or not the outer query reads it.
    let found: Option<Document> = sqlx::query_as(concat!(
        "with found as (select ",
        columns!(),
        "  from documents where tenant_id = $1 and id = $2 and deleted_at is null),",
        " recorded as (insert into audit_events (tenant_id, actor_user_id, actor_subject, action,",
        "  resource_type, resource_id, outcome, request_id, client_ip, user_agent, changed_fields,",
        "  emergency)",
        "  select $3, $4, $5, $6, $7, $8,",
        "  case when exists (select 1 from found) then $9 else $10 end,",
        "  $11, $12::inet, $13, $14, $15)",
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
    .bind(outcome_if_missing)
    .bind(event.request_id)
    .bind(event.client_ip.map(|ip| ip.to_string()))
    .bind(event.user_agent.map(crate::audit::truncate_user_agent))
    .bind(event.changed_fields)
    .bind(event.emergency)
    .fetch_optional(tx.as_mut())
    .await?;
    let outcome = if found.is_some() {
        event.outcome
    } else {
        outcome_if_missing
    };
    tx.audited(event.action, outcome);
    Ok(found)
}

/// Soft delete: sets `deleted_at`. `false` when there was nothing live to delete.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, document_id = %id))]
pub async fn soft_delete(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: DocumentId,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "update documents set deleted_at = now(), updated_at = now() \
         where tenant_id = $1 and id = $2 and deleted_at is null",
    )
    .bind(tenant)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
