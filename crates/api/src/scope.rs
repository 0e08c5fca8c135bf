//! The handler kit: [`Scope`], the caller's tenant scope (principal, pool, audit details), and
//! the [`Permit`] a role check hands out, the only way to open an audited tenant transaction.
//!
//! A handler says which roles it needs and what it does (`scope.require(READERS, access)`), then
//! opens the transaction from the permit, runs one query function and commits:
//!
//! ```ignore
//! let access = Access::new("patient.read", RESOURCE);
//! let (permit, id) = scope.require_id(READERS, access, &raw).await?;
//! let (mut tx, phi) = permit.begin_phi().await?;
//! let found: Option<Patient> = resource::get(&mut tx, &phi, id).await?;
//! tx.commit().await?;
//! ```
//!
//! The access is queued in the transaction as the request's audit event and written when it
//! commits (a rollback writes none), so an event never exists without its change and a handler
//! cannot forget it. A refusal (missing role, an id that is not this tenant's) is recorded as
//! `denied` in a transaction of its own, so the record stays although the request fails.

mod settle;

use std::fmt::Display;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use haven_db::PgPool;
use haven_db::audit_event::{Actor, USER_AGENT_MAX_CHARS};
use haven_db::idempotency::Key;
use haven_db::ids::{TenantId, UserId};
use haven_db::tenant::TenantTx;
use haven_phi::{Phi, TenantFields};

pub use haven_db::audit_event::{Access, AuditOutcome};
pub use settle::{CreatedRow, found, missing, settle_create, settle_delete, settle_update};

use crate::error::{ApiError, codes};
use crate::http::client_ip::ClientIp;
use crate::http::request_id::RequestId;
use crate::limits::{Share, ShareKind, TenantShares};
use crate::principal::{Principal, Role};
use crate::state::AppState;

/// The authenticated caller's scope: who (the principal), which tenant, which request, and the
/// pool. Extracted on protected routes only.
#[derive(Clone)]
pub struct Scope {
    pool: PgPool,
    shares: TenantShares,
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
            shares: state.shares.clone(),
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

    /// [`Scope::require`] for an access to one row: the permit and the id in `raw` (a path
    /// segment), which the access names; text that is not an id is 404 RES_001, recorded like
    /// any id this tenant does not have.
    pub async fn require_id<T: FromStr + Display>(
        &self,
        roles: &[Role],
        access: Access,
        raw: &str,
    ) -> Result<(Permit<'_>, T), ApiError> {
        let mut permit = self.require(roles, access.on(raw)).await?;
        let id = permit.id(raw).await?;
        Ok((permit, id))
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

    /// The request's input as the handler checked it (body, query, headers); a refusal (422, 400,
    /// 415) is recorded as a denied access first, so probing ids with bad bodies leaves a trace.
    pub async fn input<T>(&self, checked: Result<T, ApiError>) -> Result<T, ApiError> {
        match checked {
            Ok(input) => Ok(input),
            Err(refusal) => Err(self.refuse(refusal).await),
        }
    }

    /// The caller's `Idempotency-Key` (if it sent one), bound to the hash of its request.
    pub fn key<'a>(&self, key: Option<&'a str>, request_hash: &'a [u8]) -> Option<Key<'a>> {
        let user = self.scope.principal.user_id;
        key.map(|key| Key {
            user,
            key,
            request_hash,
        })
    }

    /// The result of a write in `tx`, and `tx` to go on with. On a database error `tx` is
    /// dropped (nothing is written, not even the queued events) and `classify` decides the
    /// answer: a refusal the client caused (a taken unique key) is recorded as denied.
    pub async fn written<T>(
        &self,
        result: Result<T, sqlx::Error>,
        tx: TenantTx<'static>,
        classify: fn(sqlx::Error) -> WriteError,
    ) -> Result<(TenantTx<'static>, T), ApiError> {
        match result {
            Ok(written) => Ok((tx, written)),
            Err(error) => {
                drop(tx);
                Err(match classify(error) {
                    WriteError::Refused(refusal) => self.refuse(refusal).await,
                    WriteError::Failed(failure) => failure,
                })
            }
        }
    }

    /// Opens the tenant transaction as this caller, with the access queued as its audit event
    /// (`success` unless the handler says otherwise), written when the transaction commits. It
    /// holds one of the tenant's connection shares until it ends; a tenant holding all of them
    /// gets 429 RATE_002, recorded as denied.
    pub async fn begin(&self) -> Result<TenantTx<'static>, ApiError> {
        let share = self.share(ShareKind::Connection).await?;
        self.begin_with(Arc::new(share)).await
    }

    /// [`Permit::begin`] under a connection share the caller took (and may keep beyond this
    /// transaction, as a streamed export does for its later pages).
    pub async fn begin_with(&self, share: Arc<Share>) -> Result<TenantTx<'static>, ApiError> {
        let scope = self.scope;
        let mut tx =
            TenantTx::begin_as(&scope.pool, scope.principal.tenant_id, scope.actor.clone()).await?;
        tx.hold(share);
        tx.audit(self.access.clone());
        Ok(tx)
    }

    /// One of the tenant's shares of `kind` (released when dropped; a connection share waits
    /// briefly for one of the tenant's own); over its share, 429 RATE_002, recorded as denied. The refusal's own event is a single short insert outside
    /// the shares, so a tenant at its share still leaves a trace.
    pub async fn share(&self, kind: ShareKind) -> Result<Share, ApiError> {
        match self
            .scope
            .shares
            .take(self.scope.principal.tenant_id, kind)
            .await
        {
            Ok(share) => Ok(share),
            Err(refusal) => Err(self.refuse(refusal).await),
        }
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
        self.record(AuditOutcome::Denied, refusal).await
    }

    /// Records the access as `error` in a transaction of its own (a dependency such as the
    /// object store failed) and returns `failure`, or the database error if the event could not
    /// be written.
    pub async fn fail(&self, failure: ApiError) -> ApiError {
        self.record(AuditOutcome::Error, failure).await
    }

    async fn record(&self, outcome: AuditOutcome, answer: ApiError) -> ApiError {
        let scope = self.scope;
        let (tenant, actor) = (scope.principal.tenant_id, scope.actor.clone());
        record_in(
            &scope.pool,
            tenant,
            actor,
            (self.access.clone(), outcome),
            answer,
        )
        .await
    }
}

impl RequestFacts {
    /// Records `access` as `denied` in `tenant` by `subject` (and `user`, once known), returning
    /// `refusal`: for a sign-in refused after its tenant was found (suspended tenant, removed or
    /// disabled user), where no [`Scope`] exists.
    pub async fn refuse_in(
        self,
        pool: &PgPool,
        (tenant, user, subject): (TenantId, Option<UserId>, &str),
        access: Access,
        refusal: ApiError,
    ) -> ApiError {
        let actor = Actor {
            user_id: user,
            subject: Some(subject.to_owned()),
            ..self.0
        };
        record_in(pool, tenant, actor, (access, AuditOutcome::Denied), refusal).await
    }
}

/// Records `access` by `actor` with `outcome` in a transaction of its own (outside the tenant's
/// connection shares: one short insert) and returns `answer`, or the database error if the
/// event could not be written (a refusal or failure is never left unrecorded).
async fn record_in(
    pool: &PgPool,
    tenant: TenantId,
    actor: Actor,
    (access, outcome): (Access, AuditOutcome),
    answer: ApiError,
) -> ApiError {
    let recorded = async {
        let mut tx = TenantTx::begin_as(pool, tenant, actor).await?;
        tx.audit(access);
        tx.set_outcome(outcome, Some(answer.code().code));
        tx.commit().await
    }
    .await;
    match recorded {
        Ok(()) => answer,
        Err(error) => error.into(),
    }
}

/// How [`Permit::written`] answers a write's database error.
pub enum WriteError {
    /// The client's doing (a taken unique key, a reference to no row of the tenant): recorded
    /// as a denied access.
    Refused(ApiError),
    /// Anything else (a broken CHECK is already 422 here, see `input::write_error`).
    Failed(ApiError),
}
