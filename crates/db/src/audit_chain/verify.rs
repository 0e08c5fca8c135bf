//! The verifier: recomputes a tenant's chain (all of it, or from the last verified seal) and
//! reports the first broken link.

use sqlx::{PgConnection, PgPool};

use super::head::{ChainEnd, TenantLock, chain_end, chain_end_columns};
use super::walk::{Walk, forged_legacy_event};
use crate::ids::{AuditEventId, TenantId};
use crate::tenant::TenantTx;
use crate::unscoped::UnscopedTx;

/// What is wrong at a broken link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkProblem {
    /// The stored hash is not the hash of the stored event: the event (or its hash) was changed.
    HashMismatch,
    /// A seal (or an event sealed before V15) does not continue from the hash before it.
    PrevHashMismatch,
    /// Positions are missing before this event: events were deleted (or renumbered).
    SeqGap,
    /// The chain ends before the last seal says it does: events were cut off the end. `seq` is
    /// the seal's last position, `event_id` the last event found, if any.
    HeadMismatch,
    /// An event sits in a sealed range at a place its seal does not list: inserted into the range
    /// after sealing, or moved within it.
    UnexpectedEvent,
    /// The seal the last verification found intact changed or is gone (`seq`: its last position).
    CheckpointMismatch,
}

/// The first place a tenant's chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BrokenLink {
    pub tenant_id: TenantId,
    /// The position where it breaks (for `HeadMismatch`: the last seal's `last_seq`).
    pub seq: i64,
    pub event_id: Option<AuditEventId>,
    pub problem: LinkProblem,
}

/// One tenant's result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TenantVerification {
    pub tenant_id: TenantId,
    /// Sealed events whose link was checked (up to and including a broken one).
    pub events_checked: u64,
    /// Events not sealed yet (normally only the last second or so).
    pub events_unsealed: u64,
    /// The position checking started after (0 for a full check).
    pub checked_from_seq: i64,
    pub broken: Option<BrokenLink>,
}

/// The result over every tenant checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    pub tenants_checked: u64,
    pub events_checked: u64,
    pub events_unsealed: u64,
    /// The first broken link of the first broken tenant (tenants in id order).
    pub first_broken: Option<BrokenLink>,
    /// The first broken link of every broken tenant.
    pub broken: Vec<BrokenLink>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.broken.is_empty()
    }

    fn add(&mut self, result: TenantVerification) {
        self.tenants_checked += 1;
        self.events_checked += result.events_checked;
        self.events_unsealed += result.events_unsealed;
        if let Some(broken) = result.broken {
            self.first_broken.get_or_insert_with(|| broken.clone());
            self.broken.push(broken);
        }
    }
}

/// How a verification runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Re-check the whole chain, not only what was sealed after the last verified seal.
    pub full: bool,
    /// Wait for another verification of the tenant to finish instead of returning `None`.
    pub wait: bool,
}

/// Fully verifies one tenant's chain, or every tenant's (`None`), as the owner in maintenance
/// transactions, without reading or moving the stored checkpoint.
pub async fn verify(pool: &PgPool, tenant: Option<TenantId>) -> Result<VerifyReport, sqlx::Error> {
    let mut report = VerifyReport::default();
    for tenant in tenants(pool, tenant).await? {
        let mut tx = UnscopedTx::begin(pool).await?;
        report.add(full(&mut tx, tenant).await?);
        tx.commit().await?;
    }
    Ok(report)
}

/// The operator command `haven audit verify`: each tenant (or one) from its last verified seal,
/// or fully with `options.full`; waits for a verification of the same tenant running elsewhere.
/// An intact result moves the tenant's checkpoint forward.
#[tracing::instrument(skip_all, fields(tenant_id = tenant.map(|t| t.to_string()), full = options.full))]
pub async fn verify_with(
    pool: &PgPool,
    tenant: Option<TenantId>,
    options: VerifyOptions,
) -> Result<VerifyReport, sqlx::Error> {
    let options = VerifyOptions {
        wait: true,
        ..options
    };
    let mut report = VerifyReport::default();
    for tenant in tenants(pool, tenant).await? {
        let mut tx = UnscopedTx::begin(pool).await?;
        if let Some(result) = check(&mut tx, tenant, options).await? {
            report.add(result);
        }
        tx.commit().await?;
    }
    Ok(report)
}

async fn tenants(pool: &PgPool, tenant: Option<TenantId>) -> Result<Vec<TenantId>, sqlx::Error> {
    if let Some(tenant) = tenant {
        return Ok(vec![tenant]);
    }
    let mut tx = UnscopedTx::begin(pool).await?;
    let ids = sqlx::query_scalar("select id from tenants order by id")
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(ids)
}

/// Fully verifies the chain of the transaction's tenant (the runtime role may read its own
/// seals). Reads only; no lock, no checkpoint.
pub async fn verify_tenant(tx: &mut TenantTx<'_>) -> Result<TenantVerification, sqlx::Error> {
    let tenant = tx.tenant();
    full(tx, tenant).await
}

/// Verifies the chain of the transaction's tenant as one of at most one verification of that
/// tenant at a time (a per-tenant advisory lock for the transaction; `None` when another holds
/// it and `options.wait` is false). Starts after the last verified seal unless `options.full`;
/// both check first that this seal is unchanged. An intact result becomes the new checkpoint
/// when the transaction commits.
pub async fn check_tenant(
    tx: &mut TenantTx<'_>,
    options: VerifyOptions,
) -> Result<Option<TenantVerification>, sqlx::Error> {
    let tenant = tx.tenant();
    check(tx, tenant, options).await
}

/// [`verify_tenant`] on any connection that may read the tenant's events and seals (the
/// owner's maintenance transaction, or the tenant's own).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
async fn full(
    conn: &mut PgConnection,
    tenant: TenantId,
) -> Result<TenantVerification, sqlx::Error> {
    Ok(walk(conn, tenant, ChainEnd::genesis()).await?.0)
}

/// [`check_tenant`] on any connection that may read the tenant's chain and write its checkpoint.
///
/// Reads run before anything is written, so a long check holds no transaction id and does not
/// hold sealing back.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, full = options.full))]
async fn check(
    conn: &mut PgConnection,
    tenant: TenantId,
    options: VerifyOptions,
) -> Result<Option<TenantVerification>, sqlx::Error> {
    if !TenantLock::Verify
        .acquire(conn, tenant, options.wait)
        .await?
    {
        return Ok(None);
    }
    let checkpoint: Option<(i64, Vec<u8>)> =
        sqlx::query_as("select last_seq, last_hash from audit_verifications where tenant_id = $1")
            .bind(tenant)
            .fetch_optional(&mut *conn)
            .await?;
    let mut start = ChainEnd::genesis();
    let mut moved = None;
    if let Some((seq, hash)) = checkpoint {
        let seal: Option<ChainEnd> = sqlx::query_as(concat!(
            "select ",
            chain_end_columns!(),
            " from audit_seals where tenant_id = $1 and last_seq = $2"
        ))
        .bind(tenant)
        .bind(seq)
        .fetch_optional(&mut *conn)
        .await?;
        match seal {
            Some(seal) if seal.last_hash == hash => {
                if !options.full {
                    start = seal;
                }
            }
            _ => {
                moved = Some(BrokenLink {
                    tenant_id: tenant,
                    seq,
                    event_id: None,
                    problem: LinkProblem::CheckpointMismatch,
                });
            }
        }
    }
    if moved.is_some() && !options.full {
        // Nothing after a changed seal can be trusted to start from: say so, and leave finding
        // the first changed event to a full check.
        let end = chain_end(conn, tenant).await?;
        let (mut result, _) = walk(conn, tenant, end).await?;
        result.broken = moved;
        return Ok(Some(result));
    }
    if let Some(moved) = moved {
        let (mut result, _) = walk(conn, tenant, start).await?;
        result.broken = Some(result.broken.unwrap_or(moved));
        return Ok(Some(result));
    }
    let (result, reached) = walk(conn, tenant, start).await?;
    if result.broken.is_none() && reached.last_seq > 0 {
        // Only forward: a slower check that reached less never moves it back.
        sqlx::query(
            "insert into audit_verifications (tenant_id, last_seq, last_hash) values ($1, $2, $3) \
             on conflict (tenant_id) do update \
             set last_seq = excluded.last_seq, last_hash = excluded.last_hash, verified_at = now() \
             where audit_verifications.last_seq <= excluded.last_seq",
        )
        .bind(tenant)
        .bind(reached.last_seq)
        .bind(&reached.last_hash)
        .execute(&mut *conn)
        .await?;
    }
    Ok(Some(result))
}

/// Walks the tenant's seals after `start` up to its current last seal, then counts what is not
/// sealed yet. Also returns the end the walk reached intact.
async fn walk(
    conn: &mut PgConnection,
    tenant: TenantId,
    start: ChainEnd,
) -> Result<(TenantVerification, ChainEnd), sqlx::Error> {
    let checked_from_seq = start.last_seq;
    let until = chain_end(conn, tenant).await?.last_seq;
    let mut walk = Walk::from(tenant, start);
    let mut broken = walk.run(conn, until).await?;
    if broken.is_none() && checked_from_seq == 0 {
        let legacy_end = legacy_end(conn, tenant).await?;
        if let Some((seq, id)) = forged_legacy_event(conn, tenant, legacy_end).await? {
            broken = Some(BrokenLink {
                tenant_id: tenant,
                seq,
                event_id: Some(AuditEventId::from_uuid(id)),
                problem: LinkProblem::UnexpectedEvent,
            });
        }
    }
    let unsealed: i64 = sqlx::query_scalar(
        "select count(*) from audit_events \
         where tenant_id = $1 and seq is null and (txid, id) > ($2, $3)",
    )
    .bind(tenant)
    .bind(walk.end.last_txid)
    .bind(walk.end.last_event_id)
    .fetch_one(&mut *conn)
    .await?;
    let result = TenantVerification {
        tenant_id: tenant,
        events_checked: walk.checked,
        events_unsealed: u64::try_from(unsealed).unwrap_or(0),
        checked_from_seq,
        broken,
    };
    Ok((result, walk.end))
}

/// The last position of the tenant's legacy seal (0 without one).
async fn legacy_end(conn: &mut PgConnection, tenant: TenantId) -> Result<i64, sqlx::Error> {
    let end: Option<i64> = sqlx::query_scalar(
        "select last_seq from audit_seals \
         where tenant_id = $1 and first_seq = 1 and event_ids is null",
    )
    .bind(tenant)
    .fetch_optional(conn)
    .await?;
    Ok(end.unwrap_or(0))
}
