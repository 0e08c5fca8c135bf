//! `tenant_keys`: each tenant's wrapped data keys (haven-phi owns what they mean). Reads and the
//! lazy first key go through `TenantTx`; rotation, retirement and shredding are owner commands
//! (`admin_*`) that also notify every replica (`crate::invalidation`, in the same transaction).

use sqlx::PgPool;
use time::OffsetDateTime;

use crate::ids::TenantId;
use crate::invalidation::Invalidation;
use crate::tenant::TenantTx;
use crate::unscoped::UnscopedTx;

/// A tenant's first key of a purpose: version 1, active; nothing when one exists already.
const INSERT_FIRST: &str = "insert into tenant_keys (tenant_id, purpose, version, state, \
     wrapped_key, wrapped_by) values ($1, $2, 1, 'active', $3, $4) on conflict do nothing";

/// Actor recorded on the audit events of operator commands.
const OPERATOR_SUBJECT: &str = "operator:haven-cli";

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TenantKeyRow {
    /// `encryption` or `blind_index`.
    pub purpose: String,
    pub version: i32,
    /// `active`, `decrypt_only`, `retired` or `shredded`.
    pub state: String,
    /// `None` once retired or shredded.
    pub wrapped_key: Option<Vec<u8>>,
    pub wrapped_by: String,
    pub created_at: OffsetDateTime,
    pub demoted_at: Option<OffsetDateTime>,
    pub retired_at: Option<OffsetDateTime>,
    pub shredded_at: Option<OffsetDateTime>,
}

macro_rules! columns {
    () => {
        "purpose, version, state, wrapped_key, wrapped_by, created_at, demoted_at, retired_at, \
         shredded_at"
    };
}

/// The transaction's tenant's keys, every state.
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant()))]
pub async fn list(tx: &mut TenantTx<'_>) -> Result<Vec<TenantKeyRow>, sqlx::Error> {
    let tenant = tx.tenant();
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from tenant_keys where tenant_id = $1 order by purpose, version"
    ))
    .bind(tenant)
    .fetch_all(tx.as_mut())
    .await
}

/// Stores the tenant's first key of `purpose` (version 1, active) unless one exists already
/// (another replica won the race: then nothing is written and `false` returned).
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant(), purpose))]
pub async fn insert_first(
    tx: &mut TenantTx<'_>,
    purpose: &str,
    wrapped_key: &[u8],
    wrapped_by: &str,
) -> Result<bool, sqlx::Error> {
    let tenant = tx.tenant();
    let done = sqlx::query(INSERT_FIRST)
        .bind(tenant)
        .bind(purpose)
        .bind(wrapped_key)
        .bind(wrapped_by)
        .execute(tx.as_mut())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Owner read of one tenant's keys (operator commands).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn admin_list(pool: &PgPool, tenant: TenantId) -> Result<Vec<TenantKeyRow>, sqlx::Error> {
    let mut tx = UnscopedTx::begin(pool).await?;
    let rows = sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from tenant_keys where tenant_id = $1 order by purpose, version"
    ))
    .bind(tenant)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// Announces the change to every replica when `tx` commits.
async fn notify(tx: &mut UnscopedTx, event: Invalidation) -> Result<(), sqlx::Error> {
    crate::invalidation::notify(tx, &event).await
}

async fn audit(tx: &mut UnscopedTx, tenant: TenantId, action: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "insert into audit_events (tenant_id, actor_subject, action, resource_type, resource_id, \
         outcome) values ($1, $2, $3, 'tenant', $4, 'success')",
    )
    .bind(tenant)
    .bind(OPERATOR_SUBJECT)
    .bind(action)
    .bind(tenant.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Why an owner key operation did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    /// The tenant's keys were shredded: no key is ever made for it again.
    Shredded,
    /// Shredding needs a suspended tenant.
    NotSuspended,
    /// No such tenant.
    NoTenant,
}

/// `haven tenants rotate-key`: the active encryption version becomes `decrypt_only` and
/// `wrapped_key` becomes the next version, active (version 1 when the tenant had none). The
/// tenant row is locked for the transaction, so concurrent rotations run one after the other.
/// Returns the new version.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn admin_rotate(
    pool: &PgPool,
    tenant: TenantId,
    wrapped_key: &[u8],
    wrapped_by: &str,
) -> Result<Result<i32, KeyRefusal>, sqlx::Error> {
    let mut tx = UnscopedTx::begin(pool).await?;
    if let Err(refusal) = lock_tenant(&mut tx, tenant, false).await? {
        return Ok(Err(refusal));
    }
    sqlx::query(
        "update tenant_keys set state = 'decrypt_only', demoted_at = now() \
         where tenant_id = $1 and purpose = 'encryption' and state = 'active'",
    )
    .bind(tenant)
    .execute(&mut *tx)
    .await?;
    let version: i32 = sqlx::query_scalar(
        "insert into tenant_keys (tenant_id, purpose, version, state, wrapped_key, wrapped_by) \
         select $1, 'encryption', coalesce(max(version), 0) + 1, 'active', $2, $3 \
         from tenant_keys where tenant_id = $1 and purpose = 'encryption' returning version",
    )
    .bind(tenant)
    .bind(wrapped_key)
    .bind(wrapped_by)
    .fetch_one(&mut *tx)
    .await?;
    audit(&mut tx, tenant, "tenant.key_rotated").await?;
    notify(&mut tx, Invalidation::KeyRotated { tenant_id: tenant }).await?;
    tx.commit().await?;
    Ok(Ok(version))
}

/// Stores a tenant's first key of `purpose` as the owner (rotate-key and encrypt-existing on a
/// tenant that never had one). `false` when one exists already.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant, purpose))]
pub async fn admin_insert_first(
    pool: &PgPool,
    tenant: TenantId,
    purpose: &str,
    wrapped_key: &[u8],
    wrapped_by: &str,
) -> Result<Result<bool, KeyRefusal>, sqlx::Error> {
    let mut tx = UnscopedTx::begin(pool).await?;
    if let Err(refusal) = lock_tenant(&mut tx, tenant, false).await? {
        return Ok(Err(refusal));
    }
    let done = sqlx::query(INSERT_FIRST)
        .bind(tenant)
        .bind(purpose)
        .bind(wrapped_key)
        .bind(wrapped_by)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Ok(done.rows_affected() == 1))
}

/// Locks the tenant row; refuses a shredded tenant, and (for shredding) an active one.
async fn lock_tenant(
    tx: &mut UnscopedTx,
    tenant: TenantId,
    must_be_suspended: bool,
) -> Result<Result<(), KeyRefusal>, sqlx::Error> {
    let status: Option<String> =
        sqlx::query_scalar("select status from tenants where id = $1 for update")
            .bind(tenant)
            .fetch_optional(&mut **tx)
            .await?;
    let Some(status) = status else {
        return Ok(Err(KeyRefusal::NoTenant));
    };
    let shredded: bool = sqlx::query_scalar(
        "select exists (select 1 from tenant_keys where tenant_id = $1 and state = 'shredded')",
    )
    .bind(tenant)
    .fetch_one(&mut **tx)
    .await?;
    if shredded {
        return Ok(Err(KeyRefusal::Shredded));
    }
    if must_be_suspended && status != "suspended" {
        return Ok(Err(KeyRefusal::NotSuspended));
    }
    Ok(Ok(()))
}

/// Retires `decrypt_only` encryption versions among `versions` that were demoted before
/// `demoted_before` (so no replica's cache still writes with them): their wrapped keys are
/// erased. The caller has checked that no row uses them. Returns the versions retired.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn admin_retire(
    pool: &PgPool,
    tenant: TenantId,
    versions: &[i32],
    demoted_before: OffsetDateTime,
) -> Result<Vec<i32>, sqlx::Error> {
    let mut tx = UnscopedTx::begin(pool).await?;
    let retired: Vec<i32> = sqlx::query_scalar(
        "update tenant_keys set state = 'retired', wrapped_key = null, retired_at = now() \
         where tenant_id = $1 and purpose = 'encryption' and state = 'decrypt_only' \
           and version = any($2) and demoted_at < $3 returning version",
    )
    .bind(tenant)
    .bind(versions)
    .bind(demoted_before)
    .fetch_all(&mut *tx)
    .await?;
    if !retired.is_empty() {
        audit(&mut tx, tenant, "tenant.key_retired").await?;
    }
    tx.commit().await?;
    Ok(retired)
}

/// `haven tenants shred`: erases every wrapped key of a suspended tenant, records the final
/// audit event `tenant.keys_shredded` and notifies every replica, in one transaction. Returns
/// how many key versions were destroyed.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
pub async fn admin_shred(
    pool: &PgPool,
    tenant: TenantId,
) -> Result<Result<u64, KeyRefusal>, sqlx::Error> {
    let mut tx = UnscopedTx::begin(pool).await?;
    if let Err(refusal) = lock_tenant(&mut tx, tenant, true).await? {
        return Ok(Err(refusal));
    }
    let destroyed = sqlx::query(
        "update tenant_keys set state = 'shredded', wrapped_key = null, shredded_at = now() \
         where tenant_id = $1",
    )
    .bind(tenant)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // A tenant that never had a key still ends shredded: a marker row (no key material) stops
    // any later request or command from creating one.
    if destroyed == 0 {
        sqlx::query(
            "insert into tenant_keys (tenant_id, purpose, version, state, wrapped_by, shredded_at) \
             values ($1, 'encryption', 1, 'shredded', 'none', now())",
        )
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    }
    audit(&mut tx, tenant, "tenant.keys_shredded").await?;
    notify(&mut tx, Invalidation::KeyShredded { tenant_id: tenant }).await?;
    tx.commit().await?;
    Ok(Ok(destroyed))
}
