//! The handler kit: [`Scope`], the caller's tenant scope (principal, pool, audit details), and
//! the [`Permit`] a role check hands out, the only way to open an audited tenant transaction.
//!
//! A handler says which roles it needs and what it does (`scope.require(READERS, access)`), then
//! opens the transaction from the permit, runs one query function and commits:
//!
//! ```ignore
//! let mut permit = scope.require(READERS, Access::new("patient.read", RESOURCE)).await?;
//! let id = permit.id(&raw).await?;
//! let (mut tx, phi) = permit.begin_phi().await?;
//! let found = patients::get(&mut tx, &phi, id).await?;
//! tx.commit().await?;
//! ```
//!
//! The access is queued in the transaction as the request's audit event and written when it
//! commits (a rollback writes none), so an event never exists without its change and a handler
//! cannot forget it. A refusal (missing role, an id that is not this tenant's) is recorded as
//! `denied` in a transaction of its own, so the record stays although the request fails.

use std::fmt::Display;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use haven_db::PgPool;
use haven_db::audit_event::{Actor, USER_AGENT_MAX_CHARS};
use haven_db::idempotency::CreateOutcome;
use haven_db::tenant::TenantTx;
use haven_phi::{Phi, TenantFields};

pub use haven_db::audit_event::{Access, AuditOutcome};

use crate::error::{ApiError, codes};
use crate::http::client_ip::ClientIp;
use crate::http::request_id::RequestId;
use crate::principal::{Principal, Role};
use crate::state::AppState;

/// The authenticated caller's scope: who (the principal), which tenant, which request, and the
/// pool. Extracted on protected routes only.
#[derive(Clone)]
pub struct Scope {
    pool: PgPool,
    phi: Option<Arc<Phi>>,
    principal: Principal,
    actor: Actor,
}

/// What every audit event of a request carries besides the caller: the request ids, the client
/// address and its user agent. Never fails (a missing fact is recorded as absent); for routes
/// that learn the caller only while they run (the login callback, refresh).
#[derive(Debug, Clone, Default)]
pub struct RequestFacts(Actor);

impl<S: Sync> FromRequestParts<S> for RequestFacts {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let user_agent = parts.headers.get(USER_AGENT).map(|value| {
            let text = String::from_utf8_lossy(value.as_bytes());
            // Cut here too, so a huge header is not copied around.
            let end = text
                .char_indices()
                .nth(USER_AGENT_MAX_CHARS)
                .map_or(text.len(), |(at, _)| at);
            text[..end].to_owned()
        });
        let request_id = parts.extensions.get::<RequestId>();
        Ok(Self(Actor {
            request_id: request_id.map(|id| id.as_str().to_owned()),
            client_request_id: request_id.and_then(RequestId::client).map(str::to_owned),
            client_ip: parts.extensions.get::<ClientIp>().map(|ip| ip.0),
            user_agent,
            ..Actor::default()
        }))
    }
}

impl FromRequestParts<AppState> for Scope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let Ok(facts) = RequestFacts::from_request_parts(parts, state).await;
        Ok(Self::new(state, principal, facts))
    }
}

impl Scope {
    /// The scope of `principal` for this request (the extractor's work, for routes that verify
    /// a token themselves).
    pub fn new(state: &AppState, principal: Principal, facts: RequestFacts) -> Self {
        let actor = Actor {
            user_id: Some(principal.user_id),
            subject: Some(principal.subject.clone()),
            // Every audited action of a break-glass identity is flagged, whatever else it holds.
            emergency: principal.is_break_glass(),
            ..facts.0
        };
        Self {
            pool: state.pool.clone(),
            phi: state.phi.clone(),
            principal,
            actor,
        }
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// For work that outlives the request's transaction (the pages of a streamed export).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A permit for `access` when the caller holds one of `roles`; otherwise 403 AUTH_009,
    /// recorded as a denied `access`.
    pub async fn require(&self, roles: &[Role], access: Access) -> Result<Permit<'_>, ApiError> {
        let permit = Permit {
            scope: self,
            access,
        };
        match self.principal.require_any(roles) {
            Ok(()) => Ok(permit),
            Err(refusal) => Err(permit.refuse(refusal).await),
        }
    }

    /// A permit for `access` open to every authenticated caller of the tenant.
    pub fn allow(&self, access: Access) -> Permit<'_> {
        Permit {
            scope: self,
            access,
        }
    }
}

/// Leave to perform one access in the caller's tenant.
pub struct Permit<'s> {
    scope: &'s Scope,
    access: Access,
}

impl Permit<'_> {
    /// The id in `raw` (a path segment), which the access then names; for text that is not an
    /// id, 404 RES_001 like any id this tenant does not have, and recorded as such.
    pub async fn id<T: FromStr + Display>(&mut self, raw: &str) -> Result<T, ApiError> {
        match raw.parse::<T>() {
            Ok(id) => {
                self.access.resource_id = Some(id.to_string());
                Ok(id)
            }
            Err(_) => {
                self.access.resource_id = Some(raw.to_owned());
                Err(self.refuse(ApiError::new(codes::RES_001)).await)
            }
        }
    }

    /// Opens the tenant transaction as this caller, with the access queued as its audit event
    /// (`success` unless the handler says otherwise), written when the transaction commits.
    pub async fn begin(&self) -> Result<TenantTx<'static>, ApiError> {
        let scope = self.scope;
        let mut tx =
            TenantTx::begin_as(&scope.pool, scope.principal.tenant_id, scope.actor.clone()).await?;
        tx.audit(self.access.clone());
        Ok(tx)
    }

    /// [`Permit::begin`] with the tenant's PHI field cipher, for query functions on tables with
    /// encrypted columns. When the tenant's keys cannot be had (key service down: 503 PHI_002
    /// with Retry-After; crypto-shredded: 410 PHI_003) the access is refused and recorded so.
    pub async fn begin_phi(&self) -> Result<(TenantTx<'static>, TenantFields), ApiError> {
        let mut tx = self.begin().await?;
        match haven_phi::tenant_fields(self.scope.phi.as_deref(), &mut tx).await {
            Ok(fields) => Ok((tx, fields)),
            Err(error) => {
                drop(tx);
                Err(self.refuse(error.into()).await)
            }
        }
    }

    /// Records the access as `denied` in a transaction of its own and returns the error to
    /// answer with: `refusal`, or the database error if the event could not be written (a
    /// refusal is never left unrecorded).
    pub async fn refuse(&self, refusal: ApiError) -> ApiError {
        let recorded = async {
            let mut tx = self.begin().await?;
            tx.deny();
            tx.commit().await.map_err(ApiError::from)
        }
        .await;
        match recorded {
            Ok(()) => refusal,
            Err(error) => error,
        }
    }
}

/// What a create needs to know of the row it made.
pub struct Created<'a, T> {
    pub id: &'a (dyn Fn(&T) -> String + Sync),
    pub deleted: &'a (dyn Fn(&T) -> bool + Sync),
    /// The audit action of a replay (`<resource>.create_replayed`): a read of the first result.
    pub replayed_action: &'static str,
}

/// Settles a create (under an optional `Idempotency-Key`) and commits: the row and whether it
/// replays an earlier create. The event names the new id. A key reused with another body is 422
/// IDEM_001 (nothing written); a replay of a row deleted since is 409 RES_002, recorded as
/// refused.
pub async fn settle_create<T>(
    mut tx: TenantTx<'static>,
    outcome: CreateOutcome<T>,
    row: Created<'_, T>,
) -> Result<(T, bool), ApiError> {
    let (created, replayed) = match outcome {
        CreateOutcome::Created(created) => (created, false),
        CreateOutcome::Replayed(created) => (created, true),
        CreateOutcome::KeyReusedWithDifferentBody => {
            tx.rollback().await?;
            return Err(ApiError::new(codes::IDEM_001));
        }
    };
    tx.audit_on((row.id)(&created));
    if replayed {
        tx.audit_as(row.replayed_action);
    }
    let deleted = (row.deleted)(&created);
    if deleted {
        tx.deny();
    }
    tx.commit().await?;
    if deleted {
        return Err(ApiError::new(codes::RES_002)
            .with_message("What was created under this Idempotency-Key has been deleted since"));
    }
    Ok((created, replayed))
}
