//! The verifier: recomputes each tenant's chain and reports the first broken link.

use futures::TryStreamExt;
use sqlx::{PgConnection, PgPool};

use super::canonical::{ChainEvent, GENESIS_HASH, chain_event_columns, link_hash};
use crate::ids::{AuditEventId, TenantId};
use crate::unscoped::UnscopedTx;

/// What is wrong at a broken link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkProblem {
    /// The stored hash is not the hash of the stored event: the event (or its hash) was changed.
    HashMismatch,
    /// The event does not point at the hash of the event before it.
    PrevHashMismatch,
    /// Positions are missing before this event: events were deleted (or renumbered).
    SeqGap,
    /// The chain head disagrees with the last sealed event: events were cut off the end, or the
    /// head was changed. `event_id` is then the last event found, if any.
    HeadMismatch,
}

/// The first place a tenant's chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BrokenLink {
    pub tenant_id: TenantId,
    /// The position where it breaks (for `HeadMismatch`: the head's `last_seq`).
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
}

/// Verifies one tenant's chain, or every tenant's (`None`), as the owner in maintenance
/// transactions (not through `TenantTx`): the operator command `haven audit verify`.
#[tracing::instrument(skip_all, fields(tenant_id = tenant.map(|t| t.to_string())))]
pub async fn verify(pool: &PgPool, tenant: Option<TenantId>) -> Result<VerifyReport, sqlx::Error> {
    let tenants = match tenant {
        Some(tenant) => vec![tenant],
        None => {
            let mut tx = UnscopedTx::begin(pool).await?;
            let ids = sqlx::query_scalar("select id from tenants order by id")
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            ids
        }
    };
    let mut report = VerifyReport::default();
    for tenant in tenants {
        let mut tx = UnscopedTx::begin(pool).await?;
        let result = verify_tenant(&mut tx, tenant).await?;
        tx.commit().await?;
        report.tenants_checked += 1;
        report.events_checked += result.events_checked;
        report.events_unsealed += result.events_unsealed;
        if let Some(broken) = result.broken {
            report.broken.push(broken);
        }
    }
    report.first_broken = report.broken.first().cloned();
    Ok(report)
}

#[derive(sqlx::FromRow)]
struct SealedEvent {
    #[sqlx(flatten)]
    event: ChainEvent,
    seq: i64,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

/// Where the walk is: the last position checked and its hash.
struct Walk {
    tenant: TenantId,
    last_seq: i64,
    last_hash: Vec<u8>,
    last_id: Option<AuditEventId>,
    checked: u64,
}

impl Walk {
    fn step(&mut self, row: &SealedEvent) -> Option<BrokenLink> {
        self.checked += 1;
        let problem = if row.seq != self.last_seq + 1 {
            Some(LinkProblem::SeqGap)
        } else if row.prev_hash != self.last_hash {
            Some(LinkProblem::PrevHashMismatch)
        } else if link_hash(&row.prev_hash, row.seq, &row.event)[..] != row.hash[..] {
            Some(LinkProblem::HashMismatch)
        } else {
            None
        };
        let event_id = AuditEventId::from_uuid(row.event.id);
        self.last_seq = row.seq;
        self.last_hash.clone_from(&row.hash);
        self.last_id = Some(event_id);
        problem.map(|problem| BrokenLink {
            tenant_id: self.tenant,
            seq: row.seq,
            event_id: Some(event_id),
            problem,
        })
    }

    /// Checks the sealed events after the current position, in seq order; `Ok(n)` rows read.
    async fn advance(
        &mut self,
        conn: &mut PgConnection,
    ) -> Result<Result<u64, BrokenLink>, sqlx::Error> {
        let mut rows = sqlx::query_as::<_, SealedEvent>(concat!(
            "select ",
            chain_event_columns!(),
            ", seq, prev_hash, hash from audit_events",
            " where tenant_id = $1 and seq > $2 order by seq"
        ))
        .bind(self.tenant)
        .bind(self.last_seq)
        .fetch(conn);
        let mut read = 0;
        while let Some(row) = rows.try_next().await? {
            read += 1;
            if let Some(broken) = self.step(&row) {
                return Ok(Err(broken));
            }
        }
        Ok(Ok(read))
    }
}

/// Verifies one tenant's chain on the caller's connection: an owner maintenance transaction, or
/// a `TenantTx` of that tenant (the runtime role may read its own chain and head), so the
/// `GET /api/v1/audit-events/verify` route can stay tenant-scoped.
///
/// Correct under READ COMMITTED while sealers run: the events are read first and the head
/// after; if the head has moved on, the newly sealed events are read and checked too (the head
/// and its events are committed together, so they are there).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn verify_tenant(
    conn: &mut PgConnection,
    tenant: TenantId,
) -> Result<TenantVerification, sqlx::Error> {
    let events_unsealed: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where tenant_id = $1 and sealed_at is null",
    )
    .bind(tenant)
    .fetch_one(&mut *conn)
    .await?;
    let mut walk = Walk {
        tenant,
        last_seq: 0,
        last_hash: GENESIS_HASH.to_vec(),
        last_id: None,
        checked: 0,
    };
    let mut broken = None;
    let mut first_read = true;
    let mut read = match walk.advance(conn).await? {
        Ok(read) => read,
        Err(link) => {
            broken = Some(link);
            0
        }
    };
    while broken.is_none() {
        let head: Option<(i64, Vec<u8>)> = sqlx::query_as(
            "select last_seq, last_hash from audit_chain_heads where tenant_id = $1",
        )
        .bind(tenant)
        .fetch_optional(&mut *conn)
        .await?;
        let (head_seq, head_hash) = head.unwrap_or((0, GENESIS_HASH.to_vec()));
        if head_seq == walk.last_seq && head_hash == walk.last_hash {
            break;
        }
        // A head ahead of the events read may be a sealer that committed meanwhile: read on (for
        // as long as that finds new events); a head that is behind, disagrees, or stays ahead
        // with nothing new behind it is broken.
        if head_seq > walk.last_seq && (first_read || read > 0) {
            first_read = false;
            read = match walk.advance(conn).await? {
                Ok(read) => read,
                Err(link) => {
                    broken = Some(link);
                    0
                }
            };
            continue;
        }
        broken = Some(BrokenLink {
            tenant_id: tenant,
            seq: head_seq,
            event_id: walk.last_id,
            problem: LinkProblem::HeadMismatch,
        });
    }
    Ok(TenantVerification {
        tenant_id: tenant,
        events_checked: walk.checked,
        events_unsealed: u64::try_from(events_unsealed).unwrap_or(0),
        broken,
    })
}
