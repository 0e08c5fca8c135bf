//! Building audit events from a request: who (the principal), which request, from where.

use std::convert::Infallible;
use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use haven_db::audit::{AuditOutcome, NewAuditEvent, USER_AGENT_MAX_CHARS};
use haven_db::tenant::TenantTx;

use crate::error::{ApiError, codes};
use crate::http::client_ip::ClientIp;
use crate::http::request_id::RequestId;
use crate::principal::{Principal, Role};
use crate::state::AppState;

/// Longest `resource_id` the audit table keeps (its CHECK).
const RESOURCE_ID_MAX_CHARS: usize = 255;

/// The request facts every audit event carries: request id, client address, user agent. An
/// extractor that never fails (a fact that is missing is recorded as absent).
#[derive(Debug, Clone, Default)]
pub struct AuditContext {
    request_id: Option<RequestId>,
    client_ip: Option<IpAddr>,
    /// Cut to the column's length; bytes that are not UTF-8 are replaced.
    user_agent: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for AuditContext {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let user_agent = parts.headers.get(USER_AGENT).map(|value| {
            let text = String::from_utf8_lossy(value.as_bytes());
            truncate(&text, USER_AGENT_MAX_CHARS).to_owned()
        });
        Ok(Self {
            request_id: parts.extensions.get::<RequestId>().cloned(),
            client_ip: parts.extensions.get::<ClientIp>().map(|ip| ip.0),
            user_agent,
        })
    }
}

/// What was attempted, on what: the part of an event that differs between handlers.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    /// `document.read`, `audit.list`, ...
    pub action: &'a str,
    /// `document`, `user`, `audit_event`.
    pub resource_type: &'a str,
    pub resource_id: Option<&'a str>,
}

impl<'a> Access<'a> {
    pub const fn new(action: &'a str, resource_type: &'a str) -> Self {
        Self {
            action,
            resource_type,
            resource_id: None,
        }
    }

    pub const fn on(self, resource_id: &'a str) -> Self {
        Self {
            resource_id: Some(resource_id),
            ..self
        }
    }
}

impl AuditContext {
    /// The event for `access` by `principal` in this request, with `outcome`.
    pub fn event<'a>(
        &'a self,
        principal: &'a Principal,
        access: Access<'a>,
        outcome: AuditOutcome,
    ) -> NewAuditEvent<'a> {
        NewAuditEvent {
            tenant_id: principal.tenant_id,
            actor_user_id: Some(principal.user_id),
            actor_subject: Some(principal.subject.as_str()),
            action: access.action,
            resource_type: access.resource_type,
            resource_id: access
                .resource_id
                .map(|id| truncate(id, RESOURCE_ID_MAX_CHARS)),
            outcome,
            request_id: self.request_id.as_ref().map(RequestId::as_str),
            client_ip: self.client_ip,
            user_agent: self.user_agent.as_deref(),
            changed_fields: None,
            // Every audited action of a break-glass identity is flagged, whatever else it holds.
            emergency: principal.is_break_glass(),
        }
    }

    /// Records a refused attempt in a transaction of its own and commits it, so the record
    /// stays although the request fails. Returns the error to answer with: `refusal`, or the
    /// database error if the event could not be written (a refusal is never left unrecorded).
    pub async fn record_denied(
        &self,
        state: &AppState,
        principal: &Principal,
        access: Access<'_>,
        refusal: ApiError,
    ) -> ApiError {
        let event = self.event(principal, access, AuditOutcome::Denied);
        let recorded = async {
            let mut tx = TenantTx::begin(&state.pool, principal.tenant_id).await?;
            haven_db::audit::record(&mut tx, &event).await?;
            tx.commit().await
        }
        .await;
        match recorded {
            Ok(()) => refusal,
            Err(error) => ApiError::from(error),
        }
    }

    /// 403 AUTH_009, recorded as a denied `access`, unless the caller holds one of `roles`.
    pub async fn require_any(
        &self,
        state: &AppState,
        principal: &Principal,
        roles: &[Role],
        access: Access<'_>,
    ) -> Result<(), ApiError> {
        match principal.require_any(roles) {
            Ok(()) => Ok(()),
            Err(refusal) => Err(self.record_denied(state, principal, access, refusal).await),
        }
    }

    /// 404 RES_001 for an id that names nothing of this tenant, recorded as a denied `access`.
    pub async fn not_found(
        &self,
        state: &AppState,
        principal: &Principal,
        access: Access<'_>,
    ) -> ApiError {
        self.record_denied(state, principal, access, ApiError::new(codes::RES_001))
            .await
    }
}

/// The first `max` characters of `text`.
fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate(&"x".repeat(300), RESOURCE_ID_MAX_CHARS).len(), 255);
    }
}
