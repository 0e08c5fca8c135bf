//! The sealer: gives unsealed events their place in their tenant's chain, one tenant at a time.

use sqlx::PgPool;
use uuid::Uuid;

use super::canonical::{ChainEvent, chain_event_columns, link_hash};
use crate::ids::TenantId;
use crate::unscoped::UnscopedTx;

/// First key of the per-tenant advisory lock ("HVCH"); the second is folded from the tenant id.
const LOCK_CLASS: i32 = 0x4856_4348;

/// The tenant's half of the advisory lock key. Two tenants may share it; that only makes one of
/// them wait for the next round.
fn lock_key(tenant: TenantId) -> i32 {
    let bytes = tenant.as_uuid().into_bytes();
    bytes
        .chunks_exact(4)
        .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .fold(0, |acc, part| acc ^ part)
}

/// Seals every pending event: for each tenant with unsealed events, in batches of up to `batch`
/// events per transaction, in (occurred_at, id) order, sets `seq` = the chain head's last seq + 1,
/// `prev_hash` = the head's last hash (32 zero bytes for the first event) and
/// `hash` = sha256 over `prev_hash` and the event's canonical encoding (see `canonical`), then
/// moves the head. Returns how many events this call sealed.
///
/// Runs as the owner in maintenance transactions, not through `TenantTx`: it works across
/// tenants and writes the chain columns, which the runtime role cannot.
///
/// Safe with any number of replicas running it at once: each tenant's batch runs under
/// `pg_try_advisory_xact_lock` for that tenant, so two sealers never interleave on one chain (the
/// loser skips the tenant this round instead of waiting), and the unique (tenant_id, seq) index
/// would refuse a duplicate position anyway. Request transactions only insert unsealed rows and
/// never take that lock, so recording events never waits for the sealer and requests of one
/// tenant are not serialized.
#[tracing::instrument(skip_all)]
pub async fn seal_pending(pool: &PgPool, batch: usize) -> Result<usize, sqlx::Error> {
    let batch = i64::try_from(batch.clamp(1, 10_000)).unwrap_or(1);
    let mut tx = UnscopedTx::begin(pool).await?;
    let tenants: Vec<TenantId> =
        sqlx::query_scalar("select distinct tenant_id from audit_events where sealed_at is null")
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
    Ok(sealed)
}

/// One transaction: up to `batch` of the tenant's unsealed events. `None` when another sealer
/// holds the tenant.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
async fn seal_tenant_batch(
    pool: &PgPool,
    tenant: TenantId,
    batch: i64,
) -> Result<Option<usize>, sqlx::Error> {
    let mut tx = UnscopedTx::begin(pool).await?;
    let locked: bool = sqlx::query_scalar("select pg_try_advisory_xact_lock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(lock_key(tenant))
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        tx.rollback().await?;
        return Ok(None);
    }
    // Read after taking the lock: a READ COMMITTED statement sees everything the previous holder
    // committed. The head row is created on the tenant's first seal.
    let (mut last_seq, mut last_hash): (i64, Vec<u8>) = sqlx::query_as(
        "with created as ( \
           insert into audit_chain_heads (tenant_id) values ($1) on conflict do nothing \
           returning last_seq, last_hash) \
         select last_seq, last_hash from created \
         union all select last_seq, last_hash from audit_chain_heads where tenant_id = $1",
    )
    .bind(tenant)
    .fetch_one(&mut *tx)
    .await?;
    let events: Vec<ChainEvent> = sqlx::query_as(concat!(
        "select ",
        chain_event_columns!(),
        " from audit_events where tenant_id = $1 and sealed_at is null",
        " order by occurred_at, id limit $2"
    ))
    .bind(tenant)
    .bind(batch)
    .fetch_all(&mut *tx)
    .await?;
    if events.is_empty() {
        tx.rollback().await?;
        return Ok(Some(0));
    }
    let mut ids: Vec<Uuid> = Vec::with_capacity(events.len());
    let mut seqs: Vec<i64> = Vec::with_capacity(events.len());
    let mut prev_hashes: Vec<Vec<u8>> = Vec::with_capacity(events.len());
    let mut hashes: Vec<Vec<u8>> = Vec::with_capacity(events.len());
    for event in &events {
        last_seq += 1;
        let hash = link_hash(&last_hash, last_seq, event);
        ids.push(event.id);
        seqs.push(last_seq);
        prev_hashes.push(std::mem::replace(&mut last_hash, hash.to_vec()));
        hashes.push(hash.to_vec());
    }
    let updated = sqlx::query(
        "update audit_events a \
         set seq = u.seq, prev_hash = u.prev_hash, hash = u.hash, sealed_at = now() \
         from unnest($2::uuid[], $3::int8[], $4::bytea[], $5::bytea[]) as u(id, seq, prev_hash, hash) \
         where a.id = u.id and a.tenant_id = $1 and a.sealed_at is null",
    )
    .bind(tenant)
    .bind(&ids)
    .bind(&seqs)
    .bind(&prev_hashes)
    .bind(&hashes)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated != ids.len() as u64 {
        // Cannot happen while the lock holds; refuse to move the head past rows not sealed.
        tx.rollback().await?;
        return Err(sqlx::Error::Protocol(format!(
            "sealed {updated} of {} audit events; rolled back",
            ids.len()
        )));
    }
    sqlx::query(
        "update audit_chain_heads set last_seq = $2, last_hash = $3, updated_at = now() \
         where tenant_id = $1",
    )
    .bind(tenant)
    .bind(last_seq)
    .bind(&last_hash)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(ids.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_key_depends_on_every_part_of_the_tenant_id() {
        let a = TenantId::from_uuid(Uuid::from_u128(1));
        let b = TenantId::from_uuid(Uuid::from_u128(1 << 100));
        assert_ne!(lock_key(a), lock_key(b));
        assert_eq!(lock_key(a), lock_key(a));
    }
}
