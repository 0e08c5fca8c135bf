//! The audit trail as the audit API reads it: the recorded event and the filtered list. Events
//! are written by the tenant transaction (`audit_event` holds the event and its one insert).

use sqlx::{Postgres, QueryBuilder};
use time::OffsetDateTime;

pub use crate::audit_event::{
    APPEND_ONLY_SQLSTATE, AuditOutcome, NewAuditEvent, USER_AGENT_MAX_CHARS, WRITTEN_METRIC,
};
use crate::ids::{AuditEventId, TenantId, UserId};
use crate::page::{Cursor, Page, PageLimit};
use crate::tenant::TenantTx;

/// A recorded event as the audit API shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub tenant_id: TenantId,
    pub occurred_at: OffsetDateTime,
    pub actor_user_id: Option<UserId>,
    pub actor_subject: Option<String>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub outcome: AuditOutcome,
    pub request_id: Option<String>,
    pub client_request_id: Option<String>,
    /// The address as PostgreSQL prints it (`host(client_ip)`).
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub changed_fields: Option<Vec<String>>,
    /// Made under break-glass (emergency) access.
    pub emergency: bool,
    /// For lists: the ids of the rows returned, in order.
    pub returned_ids: Option<Vec<uuid::Uuid>>,
    /// For a refusal or failure: the error code the caller was answered with.
    pub error_code: Option<String>,
    /// Its place in the tenant's hash chain (from its seal); `None` until sealed.
    pub seq: Option<i64>,
    pub sealed_at: Option<OffsetDateTime>,
}

/// Filters of `GET /api/v1/audit-events`; `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<UserId>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    /// Only with `resource_type` does this use its index; alone it still filters correctly.
    pub resource_id: Option<String>,
    /// Occurred at or after (inclusive).
    pub from: Option<OffsetDateTime>,
    /// Occurred before (exclusive).
    pub to: Option<OffsetDateTime>,
    /// Only break-glass (emergency) accesses when `Some(true)`.
    pub emergency: Option<bool>,
}

/// One page of the tenant's events, newest first, keyset on (occurred_at, id): each filter has an
/// index ending in (occurred_at desc, id desc), so a deep page costs what the first page costs.
/// The statement carries only the predicates in use (see `documents::list` for why).
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant()))]
pub async fn list(
    tx: &mut TenantTx<'_>,
    filter: &AuditFilter,
    after: Option<&Cursor>,
    limit: PageLimit,
) -> Result<Page<AuditEvent>, sqlx::Error> {
    let mut query = QueryBuilder::<Postgres>::new(
        "select id, tenant_id, occurred_at, actor_user_id, actor_subject, action, resource_type, \
         resource_id, outcome, request_id, client_request_id, host(client_ip) as client_ip, \
         user_agent, changed_fields, emergency, returned_ids, error_code, s.seq, s.sealed_at \
         from audit_events e left join lateral audit_event_seal(e) s on true where tenant_id = ",
    );
    query.push_bind(tx.tenant());
    if let Some(actor) = filter.actor {
        query.push(" and actor_user_id = ").push_bind(actor);
    }
    if let Some(action) = &filter.action {
        query.push(" and action = ").push_bind(action.clone());
    }
    if let Some(resource_type) = &filter.resource_type {
        query
            .push(" and resource_type = ")
            .push_bind(resource_type.clone());
    }
    if let Some(resource_id) = &filter.resource_id {
        query
            .push(" and resource_id = ")
            .push_bind(resource_id.clone());
    }
    if let Some(emergency) = filter.emergency {
        // A literal, so the partial index on emergency events is usable.
        query.push(if emergency {
            " and emergency"
        } else {
            " and not emergency"
        });
    }
    if let Some(from) = filter.from {
        query.push(" and occurred_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" and occurred_at < ").push_bind(to);
    }
    if let Some(cursor) = after {
        query
            .push(" and (occurred_at, id) < (")
            .push_bind(cursor.at)
            .push(", ")
            .push_bind(cursor.id)
            .push(")");
    }
    query
        .push(" order by occurred_at desc, id desc limit ")
        .push_bind(limit.fetch());
    let rows: Vec<AuditEvent> = query.build_query_as().fetch_all(tx.as_mut()).await?;
    Ok(Page::from_rows(rows, limit, |e| {
        Cursor::new(e.occurred_at, e.id.as_uuid())
    }))
}
