//! An audit event as it is written: who, what, on what, with which outcome; and the one insert.
//!
//! Tenant transactions queue their request's events and write them with this insert when they
//! commit, or inside the statement of an audited read (`TenantTx` (`tenant.rs`)). The table
//! is append-only for everyone (triggers refuse UPDATE, DELETE and TRUNCATE, SQLSTATE
//! [`APPEND_ONLY_SQLSTATE`]); `audit_chain` seals events into each tenant's hash chain later,
//! in rows of its own (`audit_seals`): an event is written once and never updated.

use std::net::IpAddr;

use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::ids::{TenantId, UserId};

/// The counter of audit events written (committed), labelled by `action` and `outcome` only.
pub const WRITTEN_METRIC: &str = "audit_events_written_total";
/// The SQLSTATE of the triggers that keep `audit_events` append-only.
pub const APPEND_ONLY_SQLSTATE: &str = "HV001";
/// Longer user agents are cut to this many characters (the column's limit).
pub const USER_AGENT_MAX_CHARS: usize = 512;
/// Longer resource ids are cut to this many characters (the column's limit).
pub const RESOURCE_ID_MAX_CHARS: usize = 255;

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
    /// The id the client sent in `X-Request-ID`, if any (not unique: clients choose it).
    pub client_request_id: Option<&'a str>,
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
    /// For updates: the names of the changed fields.
    pub changed_fields: Option<&'a [&'a str]>,
    /// Made under break-glass (emergency) access.
    pub emergency: bool,
    /// For lists of PHI-bearing rows: the ids of the rows returned, in order.
    pub returned_ids: Option<&'a [Uuid]>,
    /// For a refusal or failure: the error code the caller was answered with (`RES_001`).
    pub error_code: Option<&'a str>,
}

/// Who acts in a tenant transaction, and from where: what every event of one request shares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Actor {
    pub user_id: Option<UserId>,
    /// The token's `sub`.
    pub subject: Option<String>,
    pub request_id: Option<String>,
    /// The id the client sent in `X-Request-ID`, kept apart from the server's.
    pub client_request_id: Option<String>,
    pub client_ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// Acting under break-glass (emergency) access: every event is flagged.
    pub emergency: bool,
}

/// What one queued event says beyond its actor and tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    /// One of the handlers' fixed names (`document.read`): also a metric label.
    pub action: &'static str,
    pub resource_type: &'static str,
    pub resource_id: Option<String>,
    pub outcome: AuditOutcome,
    /// For updates: the names (never the values) of the changed fields.
    pub changed_fields: Option<Vec<&'static str>>,
    /// For lists: the ids of the rows returned.
    pub returned_ids: Option<Vec<Uuid>>,
    /// For a refusal or failure: the error code the caller was answered with.
    pub error_code: Option<&'static str>,
}

impl Access {
    /// A successful `action` on `resource_type`; refine it with [`Access::on`].
    pub const fn new(action: &'static str, resource_type: &'static str) -> Self {
        Self {
            action,
            resource_type,
            resource_id: None,
            outcome: AuditOutcome::Success,
            changed_fields: None,
            returned_ids: None,
            error_code: None,
        }
    }

    /// The same access on one resource.
    pub fn on(self, resource_id: impl Into<String>) -> Self {
        Self {
            resource_id: Some(resource_id.into()),
            ..self
        }
    }

    /// The event of this access by `actor` in `tenant`.
    pub fn event<'a>(&'a self, tenant: TenantId, actor: &'a Actor) -> NewAuditEvent<'a> {
        NewAuditEvent {
            tenant_id: tenant,
            actor_user_id: actor.user_id,
            actor_subject: actor.subject.as_deref(),
            action: self.action,
            resource_type: self.resource_type,
            resource_id: self.resource_id.as_deref(),
            outcome: self.outcome,
            request_id: actor.request_id.as_deref(),
            client_request_id: actor.client_request_id.as_deref(),
            client_ip: actor.client_ip,
            user_agent: actor.user_agent.as_deref(),
            changed_fields: self.changed_fields.as_deref(),
            emergency: actor.emergency,
            returned_ids: self.returned_ids.as_deref(),
            error_code: self.error_code,
        }
    }
}

/// The API's code for an id the tenant does not have (missing, deleted or another tenant's):
/// what an audited read records when no row comes back (`RES_001` in `crates/api`'s registry; a
/// test there keeps the two equal).
pub const NOT_FOUND_CODE: &str = "RES_001";

/// How an audited read decides its events' outcome in SQL: `granted`, a boolean over the CTE
/// `found` (the select); when it does not hold the events are `denied`, with `refused_code`
/// when a row was found and [`NOT_FOUND_CODE`] when none was.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GrantSql {
    pub granted: &'static str,
    pub refused_code: &'static str,
}

/// Appends the one audit insert to `query`: a row per event. With `grant`, a row's outcome is
/// its own when the grant holds and `denied` (with the refusal's code) otherwise (an audited
/// read records a missing row, which looks like another tenant's, as refused).
///
/// `returned_ids` (V19) and `error_code` (V20) are named only when some event can have them, so
/// the insert of every other event is the one written before those columns existed.
pub(crate) fn push_insert(
    query: &mut QueryBuilder<Postgres>,
    events: &[NewAuditEvent<'_>],
    grant: Option<GrantSql>,
) {
    query.push(
        "insert into audit_events (tenant_id, actor_user_id, actor_subject, action, \
         resource_type, resource_id, outcome, request_id, client_ip, user_agent, \
         changed_fields, emergency, client_request_id",
    );
    let with_returned_ids = events.iter().any(|e| e.returned_ids.is_some());
    if with_returned_ids {
        query.push(", returned_ids");
    }
    let with_error_code = grant.is_some() || events.iter().any(|e| e.error_code.is_some());
    if with_error_code {
        query.push(", error_code");
    }
    query.push(") ");
    query.push_values(events, |mut row, event| {
        row.push_bind(event.tenant_id)
            .push_bind(event.actor_user_id)
            .push_bind(event.actor_subject.map(str::to_owned))
            .push_bind(event.action.to_owned())
            .push_bind(event.resource_type.to_owned())
            .push_bind(
                event
                    .resource_id
                    .map(|id| truncate_chars(id, RESOURCE_ID_MAX_CHARS).to_owned()),
            );
        match grant {
            None => row.push_bind(event.outcome),
            Some(grant) => row
                .push(format_args!("case when {} then ", grant.granted))
                .push_bind_unseparated(event.outcome)
                .push_unseparated(" else 'denied' end"),
        };
        row.push_bind(event.request_id.map(str::to_owned))
            .push_bind(event.client_ip.map(|ip| ip.to_string()))
            .push_unseparated("::inet")
            .push_bind(
                event
                    .user_agent
                    .map(|ua| truncate_chars(ua, USER_AGENT_MAX_CHARS).to_owned()),
            )
            .push_bind(
                event
                    .changed_fields
                    .map(|fields| fields.iter().map(|f| (*f).to_owned()).collect::<Vec<_>>()),
            )
            .push_bind(event.emergency)
            .push_bind(event.client_request_id.map(str::to_owned));
        if with_returned_ids {
            row.push_bind(event.returned_ids.map(<[Uuid]>::to_vec));
        }
        match grant {
            Some(grant) if with_error_code => row
                .push(format_args!("case when {} then ", grant.granted))
                .push_bind_unseparated(event.error_code.map(str::to_owned))
                .push_unseparated(" when exists (select 1 from found) then ")
                .push_bind_unseparated(grant.refused_code)
                .push_unseparated(" else ")
                .push_bind_unseparated(NOT_FOUND_CODE)
                .push_unseparated(" end"),
            _ if with_error_code => row.push_bind(event.error_code.map(str::to_owned)),
            _ => &mut row,
        };
    });
}

/// Counts committed events (by `TenantTx::commit`). `action` is one of the
/// handlers' fixed names, so the label set stays bounded; no tenant, user or resource id is ever
/// a label.
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

/// The first `max` characters of `text`.
pub(crate) fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
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

    #[test]
    fn an_audited_read_writes_its_outcome_only_when_the_row_was_found() {
        let actor = Actor::default();
        let access = Access::new("patient.read", "patient").on("x");
        let tenant = TenantId::from_uuid(uuid::Uuid::nil());
        let mut query = QueryBuilder::<Postgres>::new("");
        let grant = GrantSql {
            granted: "found",
            refused_code: "CONTENT_001",
        };
        push_insert(&mut query, &[access.event(tenant, &actor)], Some(grant));
        let sql = query.sql().as_str().to_owned();
        assert!(
            sql.contains("case when found then $7 else 'denied' end"),
            "{sql}"
        );
        assert!(sql.contains("$9::inet"), "{sql}");
        assert!(
            sql.ends_with(
                "case when found then $14 when exists (select 1 from found) then $15 else $16 end)"
            ),
            "{sql}"
        );
    }

    #[test]
    fn the_returned_ids_column_is_named_only_for_events_that_have_it() {
        let actor = Actor::default();
        let tenant = TenantId::from_uuid(uuid::Uuid::nil());
        let sql = |access: &Access| {
            let mut query = QueryBuilder::<Postgres>::new("");
            push_insert(&mut query, &[access.event(tenant, &actor)], None);
            query.sql().as_str().to_owned()
        };
        let read = Access::new("document.read", "document");
        assert!(!sql(&read).contains("returned_ids"));
        let mut list = Access::new("document.list", "document");
        list.returned_ids = Some(Vec::new());
        let list_sql = sql(&list);
        assert!(
            list_sql.contains("client_request_id, returned_ids)"),
            "{list_sql}"
        );
        assert!(list_sql.ends_with("$14)"), "{list_sql}");
        let mut refused = Access::new("document.update", "document");
        refused.error_code = Some("RES_001");
        let refused_sql = sql(&refused);
        assert!(
            refused_sql.contains("client_request_id, error_code)"),
            "{refused_sql}"
        );
        assert!(refused_sql.ends_with("$14)"), "{refused_sql}");
    }
}
