//! `/api/v1/audit-events`: the tenant's audit trail (JSON pages or an NDJSON export) and the
//! hash-chain check, for admins and auditors. Each query is itself audited.

mod export;

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use haven_db::audit::{AuditEvent, AuditFilter, AuditOutcome};
use haven_db::audit_chain::{LinkProblem, VerifyOptions};
use haven_db::ids::UserId;
use haven_db::page::{Cursor, PageLimit};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, codes};
use crate::extract::ApiQuery;
use crate::limits::ShareKind;
use crate::openapi::ErrorEnvelope;
use crate::principal::Role;
use crate::routes::params::{self, Problems};
use crate::scope::{Access, Scope};

pub use export::{EXPORT_MAX_EVENTS, NDJSON};

/// The audit `resource_type` of audit queries.
const RESOURCE: &str = "audit_event";
/// Who may read the audit trail.
const AUDIT_READERS: &[Role] = &[Role::Admin, Role::Auditor];

/// Filters and paging of the audit trail. Unknown parameters are refused (422).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events of this actor (a user id).
    #[param(value_type = Option<uuid::Uuid>)]
    pub actor: Option<String>,
    /// Only this action, e.g. `document.read`. An empty value is refused, not ignored.
    #[param(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub action: Option<String>,
    /// Only this resource type, e.g. `document`.
    #[param(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub resource_type: Option<String>,
    /// Only this resource id (fastest together with `resource_type`).
    #[param(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub resource_id: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<String>,
    /// Only events before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<String>,
    /// `true`: only break-glass (emergency) accesses; `false`: only the others.
    #[param(value_type = Option<bool>)]
    pub emergency: Option<String>,
    /// The `next_cursor` of the previous page (for an export: where to start).
    #[param(min_length = 1)]
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 20); not used by the NDJSON export.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
}

/// The query, checked: 422 with every problem.
struct Parsed {
    filter: AuditFilter,
    cursor: Option<Cursor>,
    limit: PageLimit,
}

fn parse(query: AuditQuery) -> Result<Parsed, ApiError> {
    let mut problems = Problems::default();
    let actor = problems.take(
        "actor",
        match query.actor.as_deref() {
            None => Ok(None),
            Some(text) => text
                .parse::<UserId>()
                .map(Some)
                .map_err(|_| "must be a user id (UUID)".to_owned()),
        },
    );
    let action = problems.take("action", params::text(query.action.as_deref(), 64));
    let resource_type = problems.take(
        "resource_type",
        params::text(query.resource_type.as_deref(), 64),
    );
    let resource_id = problems.take(
        "resource_id",
        params::text(query.resource_id.as_deref(), 255),
    );
    let from = problems.take("from", params::timestamp(query.from.as_deref()));
    let to = problems.take("to", params::timestamp(query.to.as_deref()));
    let emergency = problems.take("emergency", params::flag(query.emergency.as_deref()));
    let cursor = problems.take("cursor", params::cursor(query.cursor.as_deref()));
    let limit = problems.take("limit", params::limit(query.limit.as_deref()));
    problems.finish()?;
    Ok(Parsed {
        filter: AuditFilter {
            actor: actor.flatten(),
            action: action.flatten(),
            resource_type: resource_type.flatten(),
            resource_id: resource_id.flatten(),
            from: from.flatten(),
            to: to.flatten(),
            emergency: emergency.flatten(),
        },
        cursor: cursor.flatten(),
        limit: limit.unwrap_or_default(),
    })
}

/// One recorded access.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventResponse {
    pub id: uuid::Uuid,
    pub tenant_id: uuid::Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub actor_user_id: Option<uuid::Uuid>,
    /// The actor's token subject.
    pub actor_subject: Option<String>,
    /// What was attempted, e.g. `document.update`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// `success`, `denied` or `error`.
    #[schema(value_type = String, example = "success")]
    pub outcome: AuditOutcome,
    /// The server's id of the request (the `X-Request-ID` it answered with, and `request_id`
    /// in its logs): unique per request.
    pub request_id: Option<String>,
    /// The `X-Request-ID` the client sent, if it sent a usable one; clients choose it, so it
    /// need not be unique.
    pub client_request_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// For updates: the names (never the values) of the fields that changed.
    pub changed_fields: Option<Vec<String>>,
    /// Made under break-glass (emergency) access.
    pub emergency: bool,
    /// For a page of documents, patients, users or audit events (`*.list`): the ids of the rows
    /// returned, in order (what the caller saw); `[]` for an empty page, null for other events.
    pub returned_ids: Option<Vec<uuid::Uuid>>,
    /// For a refusal (`denied`) or failure (`error`): the error code the caller was answered
    /// with (`RES_001`, `VAL_001`, `IDEM_001`, `AUTH_009`, ...); null for a success.
    pub error_code: Option<String>,
    /// Position in the tenant's hash chain; null until sealed (within seconds).
    pub seq: Option<i64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sealed_at: Option<OffsetDateTime>,
}

impl From<AuditEvent> for AuditEventResponse {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id.as_uuid(),
            tenant_id: e.tenant_id.as_uuid(),
            occurred_at: e.occurred_at,
            actor_user_id: e.actor_user_id.map(|u| u.as_uuid()),
            actor_subject: e.actor_subject,
            action: e.action,
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            outcome: e.outcome,
            request_id: e.request_id,
            client_request_id: e.client_request_id,
            client_ip: e.client_ip,
            user_agent: e.user_agent,
            changed_fields: e.changed_fields,
            emergency: e.emergency,
            returned_ids: e.returned_ids,
            error_code: e.error_code,
            seq: e.seq,
            sealed_at: e.sealed_at,
        }
    }
}

/// One page of audit events.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventPage {
    pub items: Vec<AuditEventResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// Does the client ask for NDJSON (`Accept: application/x-ndjson`, not with q=0)?
fn wants_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            media.eq_ignore_ascii_case(NDJSON)
                && !parts.any(|p| p.replace(' ', "").eq_ignore_ascii_case("q=0"))
        })
}

/// The caller's tenant's audit trail, newest first (admin or auditor). With
/// `Accept: application/x-ndjson` the answer is every matching event, one JSON object a line
/// (streamed in pages; at most 100 000 events, after which a last line
/// `{"truncated":true,"next_cursor":...}` says where to continue).
#[utoipa::path(get, path = "/api/v1/audit-events", tag = "audit", operation_id = "list_audit_events",
    security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events, or the NDJSON export",
            content(
                (AuditEventPage = "application/json"),
                (AuditEventResponse = "application/x-ndjson"),
            )),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Only admins and auditors may read the audit trail (AUTH_009)", body = ErrorEnvelope),
        (status = 422, description = "Bad filter, cursor or limit (VAL_001, with details)", body = ErrorEnvelope),
    ))]
pub async fn list_audit_events(
    scope: Scope,
    headers: HeaderMap,
    query: Result<ApiQuery<AuditQuery>, ApiError>,
) -> Result<Response, ApiError> {
    let ndjson = wants_ndjson(&headers);
    let action = if ndjson { "audit.export" } else { "audit.list" };
    let permit = scope
        .require(AUDIT_READERS, Access::new(action, RESOURCE))
        .await?;
    let parsed = permit.input(query.and_then(|ApiQuery(q)| parse(q))).await?;
    // An export streams for long: it holds one export share, and one connection share from
    // its first page to its last.
    let (mut tx, export_shares) = if ndjson {
        let export_share = permit.share(ShareKind::Export).await?;
        let connection = Arc::new(permit.share(ShareKind::Connection).await?);
        let tx = permit.begin_with(connection.clone()).await?;
        (tx, Some((export_share, connection)))
    } else {
        (permit.begin().await?, None)
    };
    // Read first, then record at commit: the page does not show the query's own event.
    let limit = if ndjson { PageLimit::MAX } else { parsed.limit };
    let page =
        haven_db::audit::list(&mut tx, &parsed.filter, parsed.cursor.as_ref(), limit).await?;
    if export_shares.is_none() {
        tx.audit_returned(page.items.iter().map(|e| e.id.as_uuid()));
    }
    tx.commit().await?;
    if let Some(shares) = export_shares {
        return Ok(export::export(
            &scope,
            shares,
            page,
            parsed.filter,
            parsed.cursor,
        ));
    }
    Ok(Json(AuditEventPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor.map(|c| c.encode()),
    })
    .into_response())
}

/// Where the chain breaks.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrokenLinkResponse {
    /// The chain position (for `head_mismatch`: the head's last position).
    pub seq: i64,
    pub event_id: Option<uuid::Uuid>,
    /// `hash_mismatch` (the event or its hash was changed), `prev_hash_mismatch`, `seq_gap`
    /// (events removed), `head_mismatch` (events cut off the end), `unexpected_event` (an event
    /// inserted into or moved within a sealed range) or `checkpoint_mismatch` (the seal the last
    /// verification stopped at changed or is gone).
    pub problem: String,
}

/// Options of the chain check. Unknown parameters are refused (422).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// `true`: re-check the whole chain; by default only what was sealed after the last seal a
    /// verification found intact (that seal itself is always re-checked against its stored hash).
    #[param(value_type = Option<bool>)]
    pub full: Option<String>,
}

/// Seconds a client is told to wait when a verification of its tenant is already running.
const VERIFY_BUSY_RETRY_AFTER: u64 = 5;

/// The result of checking the tenant's hash chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResponse {
    /// True when every sealed event checked links to the one before and the last seal agrees.
    pub ok: bool,
    /// Sealed events checked: those after position `checked_from_seq`.
    pub events_checked: u64,
    /// 0 for a full check; otherwise the last position of the seal the previous intact
    /// verification reached.
    pub checked_from_seq: i64,
    /// Events not sealed yet (normally only those of the last second or two).
    pub events_unsealed: u64,
    /// The first broken link; null when `ok`.
    pub first_broken: Option<BrokenLinkResponse>,
}

fn problem_name(problem: LinkProblem) -> &'static str {
    match problem {
        LinkProblem::HashMismatch => "hash_mismatch",
        LinkProblem::PrevHashMismatch => "prev_hash_mismatch",
        LinkProblem::SeqGap => "seq_gap",
        LinkProblem::HeadMismatch => "head_mismatch",
        LinkProblem::UnexpectedEvent => "unexpected_event",
        LinkProblem::CheckpointMismatch => "checkpoint_mismatch",
    }
}

/// Recomputes the caller's tenant's audit hash chain from the last seal a verification found
/// intact (or all of it with `full=true`) and reports the first broken link (admin or auditor).
/// One verification per tenant runs at a time: another one gets 429 with `Retry-After`.
#[utoipa::path(get, path = "/api/v1/audit-events/verify", tag = "audit", operation_id = "verify_audit_events",
    security(("bearer" = [])),
    params(VerifyQuery),
    responses(
        (status = 200, body = VerifyResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 403, description = "Only admins and auditors may verify the audit trail (AUTH_009)", body = ErrorEnvelope),
        (status = 422, description = "`full` is not true or false (VAL_001, with details)", body = ErrorEnvelope),
        (status = 429, description = "A verification of this tenant is already running (RATE_001, with Retry-After)", body = ErrorEnvelope),
    ))]
pub async fn verify_audit_events(
    scope: Scope,
    query: Result<ApiQuery<VerifyQuery>, ApiError>,
) -> Result<Json<VerifyResponse>, ApiError> {
    let permit = scope
        .require(AUDIT_READERS, Access::new("audit.verify", RESOURCE))
        .await?;
    let ApiQuery(query) = query?;
    let mut problems = Problems::default();
    let full = problems.take("full", params::flag(query.full.as_deref()));
    problems.finish()?;
    let options = VerifyOptions {
        full: full.flatten().unwrap_or(false),
        wait: false,
    };
    let mut tx = permit.begin().await?;
    let result = haven_db::audit_chain::check_tenant(&mut tx, options).await?;
    if result.is_none() {
        // A refusal because another verification runs is on record too.
        tx.deny(codes::RATE_001.code);
    }
    tx.commit().await?;
    let Some(result) = result else {
        return Err(ApiError::new(codes::RATE_001)
            .with_message("a verification of this tenant's audit trail is already running")
            .with_retry_after(VERIFY_BUSY_RETRY_AFTER));
    };
    Ok(Json(VerifyResponse {
        ok: result.broken.is_none(),
        events_checked: result.events_checked,
        checked_from_seq: result.checked_from_seq,
        events_unsealed: result.events_unsealed,
        first_broken: result.broken.map(|b| BrokenLinkResponse {
            seq: b.seq,
            event_id: b.event_id.map(|id| id.as_uuid()),
            problem: problem_name(b.problem).to_owned(),
        }),
    }))
}

#[cfg(test)]
mod tests;
