//! Tenants: the caller's own tenant (through `TenantTx`), the pre-authentication lookup by the
//! token's claim, and the operator commands. Everything that is not tenant-scoped says so in its
//! name (`*_unscoped`, `admin_*`).

use sqlx::PgPool;
use time::OffsetDateTime;

use crate::ids::TenantId;
use crate::invalidation::Invalidation;
use crate::tenant::TenantTx;
use crate::unscoped::UnscopedTx;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum TenantStatus {
    Active,
    Suspended,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Tenant {
    pub id: TenantId,
    /// The token's tenant claim value.
    pub external_id: String,
    pub name: String,
    pub status: TenantStatus,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Tenant {
    pub fn is_active(&self) -> bool {
        self.status == TenantStatus::Active
    }
}

/// The selected columns, as a macro so every statement stays a `&'static str` (`concat!`).
macro_rules! columns {
    () => {
        "id, external_id, name, status, created_at, updated_at"
    };
}

/// The current transaction's tenant (`GET /api/v1/tenant`). Through a `TenantTx` the policy lets
/// `haven_app` see this one row only.
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant()))]
pub async fn get(tx: &mut TenantTx<'_>) -> Result<Option<Tenant>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from tenants where id = $1"
    ))
    .bind(tx.tenant())
    .fetch_optional(tx.as_mut())
    .await
}

/// Maps a token's tenant claim to its tenant, before any tenant is known; NOT tenant-scoped.
///
/// Authentication needs the tenant id to open a `TenantTx`, and the only thing it has is the
/// claim, so this one read cannot go through row-level security scoped to a tenant. It runs as
/// the connecting (owner) user and calls the SQL function `tenant_by_external_id_unscoped`,
/// which turns `app.unscoped` on around its one query and restores it (one round trip, no
/// transaction), returning at most the one row whose `external_id` matches exactly. Callers must still refuse a
/// suspended tenant. Nothing else should use it.
#[tracing::instrument(skip_all)]
pub async fn lookup_by_external_id_unscoped(
    pool: &PgPool,
    external_id: &str,
) -> Result<Option<Tenant>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from tenant_by_external_id_unscoped($1)"
    ))
    .bind(external_id)
    .fetch_optional(pool)
    .await
}

/// Operator command (`haven tenants create`); runs as the owner, not tenant-scoped. A taken
/// external id fails with SQLSTATE 23505 (constraint `tenants_external_id_key`).
#[tracing::instrument(skip_all)]
pub async fn admin_create(
    pool: &PgPool,
    external_id: &str,
    name: &str,
) -> Result<Tenant, sqlx::Error> {
    let mut tx = UnscopedTx::begin(pool).await?;
    let tenant = sqlx::query_as(concat!(
        "insert into tenants (external_id, name) values ($1, $2) returning ",
        columns!()
    ))
    .bind(external_id)
    .bind(name)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(tenant)
}

/// Operator/development helper: the tenant with this external id, created if missing (with
/// `name`). Production start-up never calls it.
#[tracing::instrument(skip_all)]
pub async fn admin_create_if_missing(
    pool: &PgPool,
    external_id: &str,
    name: &str,
) -> Result<Tenant, sqlx::Error> {
    let mut tx = UnscopedTx::begin(pool).await?;
    sqlx::query("insert into tenants (external_id, name) values ($1, $2) on conflict do nothing")
        .bind(external_id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    let tenant = sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from tenants where external_id = $1"
    ))
    .bind(external_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(tenant)
}

/// Operator command (`haven tenants list`): every tenant, by external id; not tenant-scoped.
#[tracing::instrument(skip_all)]
pub async fn admin_list(pool: &PgPool) -> Result<Vec<Tenant>, sqlx::Error> {
    let mut tx = UnscopedTx::begin(pool).await?;
    let tenants = sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from tenants order by external_id"
    ))
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(tenants)
}

/// Operator command (`haven tenants suspend`): its users get 403 from then on. `None` when no
/// tenant has this external id.
pub async fn admin_suspend(
    pool: &PgPool,
    external_id: &str,
) -> Result<Option<Tenant>, sqlx::Error> {
    admin_set_status(pool, external_id, TenantStatus::Suspended).await
}

/// Operator command (`haven tenants activate`). `None` when no tenant has this external id.
pub async fn admin_activate(
    pool: &PgPool,
    external_id: &str,
) -> Result<Option<Tenant>, sqlx::Error> {
    admin_set_status(pool, external_id, TenantStatus::Active).await
}

#[tracing::instrument(skip_all, fields(status = ?status))]
async fn admin_set_status(
    pool: &PgPool,
    external_id: &str,
    status: TenantStatus,
) -> Result<Option<Tenant>, sqlx::Error> {
    let mut tx = UnscopedTx::begin(pool).await?;
    // updated_at moves only when the status really changes.
    sqlx::query(
        "update tenants set status = $2, updated_at = now() \
         where external_id = $1 and status <> $2",
    )
    .bind(external_id)
    .bind(status)
    .execute(&mut *tx)
    .await?;
    let tenant = sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from tenants where external_id = $1"
    ))
    .bind(external_id)
    .fetch_optional(&mut *tx)
    .await?;
    if tenant.is_some() {
        // Every replica drops its cached row at commit: the change applies within a second.
        let event = Invalidation::TenantStatus {
            tenant_external_id: external_id.to_owned(),
        };
        crate::invalidation::notify(&mut tx, &event).await?;
    }
    tx.commit().await?;
    Ok(tenant)
}
