//! Where a tenant's chain ends: its last seal (position, hash and chain key), and locking a tenant.

use sqlx::PgConnection;
use uuid::Uuid;

use super::canonical::GENESIS_HASH;
use crate::ids::TenantId;

/// The end of a tenant's sealed chain: the last position and its hash, and the chain key
/// `(txid, id)` of the last event covered; the tenant's events above that key are unsealed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct ChainEnd {
    pub last_seq: i64,
    pub last_hash: Vec<u8>,
    pub last_txid: i64,
    pub last_event_id: Uuid,
}

impl ChainEnd {
    /// Before the first seal: position 0, 32 zero bytes, below every event's key.
    pub(crate) fn genesis() -> Self {
        Self {
            last_seq: 0,
            last_hash: GENESIS_HASH.to_vec(),
            last_txid: 0,
            last_event_id: Uuid::nil(),
        }
    }
}

/// The columns `ChainEnd` reads from `audit_seals`.
macro_rules! chain_end_columns {
    () => {
        "last_seq, last_hash, last_txid, last_event_id"
    };
}
pub(crate) use chain_end_columns;

/// The tenant's last seal, or the genesis end when it has none.
pub(crate) async fn chain_end(
    conn: &mut PgConnection,
    tenant: TenantId,
) -> Result<ChainEnd, sqlx::Error> {
    let end: Option<ChainEnd> = sqlx::query_as(concat!(
        "select ",
        chain_end_columns!(),
        " from audit_seals where tenant_id = $1 order by last_seq desc limit 1"
    ))
    .bind(tenant)
    .fetch_optional(conn)
    .await?;
    Ok(end.unwrap_or_else(ChainEnd::genesis))
}

/// Per-tenant advisory locks: the sealer's ("HVCH") and the verifier's ("HVVF").
#[derive(Debug, Clone, Copy)]
pub(crate) enum TenantLock {
    Seal,
    Verify,
}

impl TenantLock {
    fn class(self) -> i32 {
        match self {
            Self::Seal => 0x4856_4348,
            Self::Verify => 0x4856_5646,
        }
    }

    /// Takes the lock for the rest of the transaction: `Ok(false)` when another session holds it
    /// and `wait` is false.
    pub(crate) async fn acquire(
        self,
        conn: &mut PgConnection,
        tenant: TenantId,
        wait: bool,
    ) -> Result<bool, sqlx::Error> {
        if wait {
            sqlx::query("select pg_advisory_xact_lock($1, $2)")
                .bind(self.class())
                .bind(lock_key(tenant))
                .execute(conn)
                .await?;
            return Ok(true);
        }
        sqlx::query_scalar("select pg_try_advisory_xact_lock($1, $2)")
            .bind(self.class())
            .bind(lock_key(tenant))
            .fetch_one(conn)
            .await
    }
}

/// The tenant's half of an advisory lock key. Two tenants may share it; that only makes one of
/// them wait (or skip a round).
fn lock_key(tenant: TenantId) -> i32 {
    let bytes = tenant.as_uuid().into_bytes();
    bytes
        .chunks_exact(4)
        .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .fold(0, |acc, part| acc ^ part)
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
