//! The audit trail: recording an event in the caller's transaction, and the filtered list.
//!
//! Events are written once and never updated; `audit_chain` seals them into each tenant's hash
//! chain shortly after, in rows of its own. The runtime role may only insert and select here;
//! triggers refuse UPDATE, DELETE and TRUNCATE for everyone (SQLSTATE [`APPEND_ONLY_SQLSTATE`]).

use std::net::IpAddr;

use sqlx::{PgConnection, Postgres, QueryBuilder};
use time::OffsetDateTime;

use crate::ids::{AuditEventId, TenantId, UserId};
use crate::page::{Cursor, Page, PageLimit};
use crate::tenant::TenantTx;

/// The counter of audit events written (committed), labelled by `action` and `outcome` only.
pub const WRITTEN_METRIC: &str = "audit_events_written_total";

/// The SQLSTATE of the triggers that keep `audit_events` append-only.
pub const APPEND_ONLY_SQLSTATE: &str = "HV001";
/// Longer user agents are cut to this many characters (the column's limit).
pub const USER_AGENT_MAX_CHARS: usize = 512;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, sqlx::Type,
)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum AuditOutcome {
    Success,
    /// Refused: a missing role, another tenant's id (recorded as the 404 the caller saw).
    Denied,
    Error,
}

impl AuditOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Error => "error",
        }
    }
}

/// Counts committed events (by [`TenantTx::commit`]). `action` is one of the handlers' fixed
/// names, so the label set stays bounded; no tenant, user or resource id is ever a label.
pub(crate) fn count_written(events: &[(String, AuditOutcome)]) {
    for (action, outcome) in events {
        metrics::counter!(
            WRITTEN_METRIC,
            "action" => action.clone(),
            "outcome" => outcome.as_str()
        )
        .increment(1);
    }
}

/// An event to record. `action` names what was attempted (`document.read`, `audit.list`, ...),
/// `resource_type`/`resource_id` what it was attempted on. Never put PHI or field values here.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent<'a> {
    pub tenant_id: TenantId,
    pub actor_user_id: Option<UserId>,
    pub actor_subject: Option<&'a str>,
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: Option<&'a str>,
    pub outcome: AuditOutcome,
    pub request_id: Option<&'a str>,
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
    /// For updates: the names of the changed fields.
    pub changed_fields: Option<&'a [&'a str]>,
    /// Made under break-glass (emergency) access.
    pub emergency: bool,
}

pub(crate) fn truncate_user_agent(text: &str) -> &str {
    truncate_chars(text, USER_AGENT_MAX_CHARS)
}

fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// Records an event in the caller's transaction: it commits or rolls back with the access it
/// describes, and is counted as written when it commits. The database assigns the id and the
/// time (the transaction's start).
#[tracing::instrument(skip_all, fields(tenant_id = %event.tenant_id, action = event.action))]
pub async fn record(
    tx: &mut TenantTx<'_>,
    event: &NewAuditEvent<'_>,
) -> Result<AuditEventId, sqlx::Error> {
    let id = sqlx::query_scalar(
        "insert into audit_events (tenant_id, actor_user_id, actor_subject, action, \
         resource_type, resource_id, outcome, request_id, client_ip, user_agent, changed_fields, \
         emergency) values ($1, $2, $3, $4, $5, $6, $7, $8, $9::inet, $10, $11, $12) returning id",
    )
    .bind(event.tenant_id)
    .bind(event.actor_user_id)
    .bind(event.actor_subject)
    .bind(event.action)
    .bind(event.resource_type)
    .bind(event.resource_id)
    .bind(event.outcome)
    .bind(event.request_id)
    .bind(event.client_ip.map(|ip| ip.to_string()))
    .bind(
        event
            .user_agent
            .map(|ua| truncate_chars(ua, USER_AGENT_MAX_CHARS)),
    )
    .bind(event.changed_fields)
    .bind(event.emergency)
    .fetch_one(tx.as_mut())
    .await?;
    tx.audited(event.action, event.outcome);
    Ok(id)
}

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
    /// The address as PostgreSQL prints it (`host(client_ip)`).
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub changed_fields: Option<Vec<String>>,
    /// Made under break-glass (emergency) access.
    pub emergency: bool,
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
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn list(
    conn: &mut PgConnection,
    tenant: TenantId,
    filter: &AuditFilter,
    after: Option<&Cursor>,
    limit: PageLimit,
) -> Result<Page<AuditEvent>, sqlx::Error> {
    let mut query = QueryBuilder::<Postgres>::new(
        "select id, tenant_id, occurred_at, actor_user_id, actor_subject, action, resource_type, \
         resource_id, outcome, request_id, host(client_ip) as client_ip, user_agent, \
         changed_fields, emergency, s.seq, s.sealed_at \
         from audit_events e left join lateral audit_event_seal(e) s on true where tenant_id = ",
    );
    query.push_bind(tenant);
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
    let rows: Vec<AuditEvent> = query.build_query_as().fetch_all(conn).await?;
    Ok(Page::from_rows(rows, limit, |e| {
        Cursor::new(e.occurred_at, e.id.as_uuid())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_user_agents_are_cut_on_a_character_boundary() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("abc", 10), "abc");
        assert_eq!(truncate_chars(&"é".repeat(600), 512).chars().count(), 512);
    }
}
