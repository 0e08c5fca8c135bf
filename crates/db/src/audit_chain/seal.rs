//! The sealer: appends a seal per tenant per batch of new events; events are never updated.

use sqlx::PgPool;
use uuid::Uuid;

use super::backlog::{self, Backlog};
use super::canonical::{ChainEvent, Encoding, chain_event_columns, link_hash};
use super::head::{ChainEnd, TenantLock, chain_end};
use crate::ids::TenantId;
use crate::unscoped::UnscopedTx;

/// An event with its chain key `(txid, id)`.
#[derive(sqlx::FromRow)]
pub(crate) struct KeyedEvent {
    #[sqlx(flatten)]
    pub event: ChainEvent,
    pub txid: i64,
}

/// Seals every pending event: for each tenant with events above its chain's end, in batches of
/// up to `batch` events per transaction, in chain-key order `(txid, id)`, appends one row to
/// `audit_seals` holding the batch's event ids and chain hashes (see `canonical`): position
/// `n` gets `hash(n) = sha256(domain || hash(n - 1) || canonical(event, n))`. Returns how many
/// events this call sealed.
///
/// Only events whose transaction is older than every transaction still running in this database
/// are taken (`txid < audit_seal_horizon()`, V15), so an event can never commit below a key
/// already sealed: a request that inserted early and commits late is sealed in a later batch,
/// never skipped. A long-running transaction in the database holds sealing back (the
/// `audit_seal_lag_seconds` metric shows it) without breaking anything.
///
/// Safe with any number of replicas at once: each tenant's batch runs under
/// `pg_try_advisory_xact_lock` for that tenant (the loser skips the tenant this round instead of
/// waiting), and the table itself refuses a second seal starting at the same position or one not
/// continuing an existing seal, so even without the lock no event is sealed twice or skipped.
/// A crash mid-batch rolls the batch's transaction back: the next round starts at the last
/// committed seal. Runs as the owner in maintenance transactions, not through `TenantTx`.
pub async fn seal_pending(pool: &PgPool, batch: usize) -> Result<usize, sqlx::Error> {
    Ok(seal_round(pool, batch).await?.0)
}

/// [`seal_pending`], also returning the backlog it started from (read in the same transaction
/// as the pending tenants, so a round that finds nothing to seal uses one connection once).
#[tracing::instrument(skip_all)]
pub(crate) async fn seal_round(
    pool: &PgPool,
    batch: usize,
) -> Result<(usize, Backlog), sqlx::Error> {
    let batch = i64::try_from(batch.clamp(1, 10_000)).unwrap_or(1);
    let mut tx = UnscopedTx::begin(pool).await?;
    let backlog = backlog::read(&mut tx).await?;
    let tenants: Vec<TenantId> = sqlx::query_scalar(
        "select t.id from tenants t \
         left join lateral (select s.last_txid, s.last_event_id from audit_seals s \
                            where s.tenant_id = t.id order by s.last_seq desc limit 1) h on true \
         where exists (select 1 from audit_events e \
                       where e.tenant_id = t.id and e.seq is null \
                         and (e.txid, e.id) > (coalesce(h.last_txid, 0), \
                                               coalesce(h.last_event_id, $1))) \
         order by t.id",
    )
    .bind(Uuid::nil())
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut sealed = 0;
    for tenant in tenants {
        while let Some(count) = seal_tenant_batch(pool, tenant, batch).await? {
            sealed += count;
            if i64::try_from(count).unwrap_or(i64::MAX) < batch {
                break;
            }
        }
    }
    Ok((sealed, backlog))
}

/// Fixes this transaction's picture of the server's sessions now, before the statement that
/// computes the seal horizon takes its snapshot.
///
/// `audit_seal_horizon()` skips running transactions it can place in another database by
/// looking them up in `pg_stat_activity`, and counts any it cannot find as blocking (one that
/// ended meanwhile may have been this database's, with an event the snapshot does not show).
/// PostgreSQL takes a transaction's copy of `pg_stat_activity` at its first read and keeps it
/// until the transaction ends (documented under "Viewing Statistics"). Read inside the horizon's
/// own statement, the copy is younger than the snapshot, so every short transaction of another
/// database that ended in between held the round back, and with parallel work elsewhere on the
/// cluster a round often sealed less than everything committed before it. Read first, the copy
/// is older than the snapshot: a transaction the snapshot shows running and the copy does not
/// know got its id after the copy was taken, so it is newer than every event committed before
/// the round began and holds none of them back, while a transaction known to the copy to be in
/// another database is that database's for good.
async fn take_activity_picture(tx: &mut UnscopedTx) -> Result<(), sqlx::Error> {
    sqlx::query("select count(*) from pg_stat_activity")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// One transaction: one seal over up to `batch` of the tenant's sealable events. `None` when
/// another sealer holds the tenant or won the race to the same position.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
async fn seal_tenant_batch(
    pool: &PgPool,
    tenant: TenantId,
    batch: i64,
) -> Result<Option<usize>, sqlx::Error> {
    let mut tx = UnscopedTx::begin(pool).await?;
    take_activity_picture(&mut tx).await?;
    if !TenantLock::Seal.acquire(&mut tx, tenant, false).await? {
        tx.rollback().await?;
        return Ok(None);
    }
    // Read after taking the lock: a READ COMMITTED statement sees everything the previous holder
    // committed.
    let end = chain_end(&mut tx, tenant).await?;
    let events: Vec<KeyedEvent> = sqlx::query_as(concat!(
        "select ",
        chain_event_columns!(),
        ", txid from audit_events",
        " where tenant_id = $1 and seq is null and (txid, id) > ($2, $3)",
        "   and txid < (select audit_seal_horizon())",
        " order by txid, id limit $4"
    ))
    .bind(tenant)
    .bind(end.last_txid)
    .bind(end.last_event_id)
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    let Some(last) = events.last() else {
        tx.rollback().await?;
        return Ok(Some(0));
    };
    let seal = Seal::over(&end, &events);
    let inserted = sqlx::query(
        "insert into audit_seals (tenant_id, first_seq, last_seq, prev_seq, prev_hash, \
         last_hash, last_txid, last_event_id, event_ids, event_hashes) \
         values ($1, $2, $3, nullif($2 - 1, 0), $4, $5, $6, $7, $8, $9)",
    )
    .bind(tenant)
    .bind(end.last_seq + 1)
    .bind(seal.last_seq)
    .bind(&end.last_hash)
    .bind(&seal.last_hash)
    .bind(last.txid)
    .bind(last.event.id)
    .bind(&seal.ids)
    .bind(&seal.hashes)
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {}
        // 23505: a seal already starts there; 23503: the end read is no longer an end. Only
        // possible if another sealer got past the lock (a key shared by two tenants cannot do
        // that: it is the same lock). The other seal stands; this one is dropped.
        Err(sqlx::Error::Database(e)) if matches!(e.code().as_deref(), Some("23505" | "23503")) => {
            tracing::warn!(error = %e, "another sealer sealed these audit events first");
            tx.rollback().await?;
            return Ok(None);
        }
        Err(error) => return Err(error),
    }
    tx.commit().await?;
    Ok(Some(events.len()))
}

/// The chain over a batch, continuing from `end`.
struct Seal {
    last_seq: i64,
    last_hash: Vec<u8>,
    ids: Vec<Uuid>,
    /// The 32-byte hash of each position, concatenated.
    hashes: Vec<u8>,
}

impl Seal {
    fn over(end: &ChainEnd, events: &[KeyedEvent]) -> Self {
        let mut seq = end.last_seq;
        let mut hash = end.last_hash.clone();
        let mut ids = Vec::with_capacity(events.len());
        let mut hashes = Vec::with_capacity(events.len() * 32);
        for keyed in events {
            seq += 1;
            let next = link_hash(&hash, seq, &keyed.event, Encoding::Current);
            hashes.extend_from_slice(&next);
            hash = next.to_vec();
            ids.push(keyed.event.id);
        }
        Self {
            last_seq: seq,
            last_hash: hash,
            ids,
            hashes,
        }
    }
}
