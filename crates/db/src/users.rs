//! Users of a tenant: created on first sight of a token subject, listed for admins, disabled
//! and enabled again (the change announced to every replica in the same transaction).

use time::OffsetDateTime;

use crate::ids::{TenantId, UserId};
use crate::invalidation::{self, Invalidation};
use crate::page::{Cursor, Page, PageLimit};
use crate::tenant::TenantTx;

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: UserId,
    pub tenant_id: TenantId,
    /// The token's `sub`: unique within the tenant.
    pub subject: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub last_seen_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub deleted_at: Option<OffsetDateTime>,
    /// Set while the user is disabled (`haven users disable`, `POST /users/{id}/disable`).
    pub disabled_at: Option<OffsetDateTime>,
}

macro_rules! columns {
    () => {
        "id, tenant_id, subject, email, display_name, last_seen_at, created_at, deleted_at, \
         disabled_at"
    };
}

/// The user for this subject, created on first sight. `last_seen_at` is written at most once a
/// minute per user, so a busy user does not turn every request into a row update. A soft-deleted
/// user is returned as it is (`deleted_at` set): refusing it is the caller's decision.
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant()))]
pub async fn upsert_seen(tx: &mut TenantTx<'_>, subject: &str) -> Result<User, sqlx::Error> {
    let tenant = tx.tenant();
    // The insert returns the row when it creates it or refreshes last_seen_at; otherwise the
    // second branch reads the existing row from the statement's snapshot.
    let user: Option<User> = sqlx::query_as(concat!(
        "with seen as (",
        "  insert into users (tenant_id, subject, last_seen_at) values ($1, $2, now())",
        "  on conflict (tenant_id, subject) do update set last_seen_at = now()",
        "  where users.last_seen_at is null or users.last_seen_at < now() - interval '1 minute'",
        "  returning ",
        columns!(),
        ") select * from seen",
        " union all select ",
        columns!(),
        " from users where tenant_id = $1 and subject = $2 and not exists (select 1 from seen)"
    ))
    .bind(tenant)
    .bind(subject)
    .fetch_optional(tx.as_mut())
    .await?;
    if let Some(user) = user {
        return Ok(user);
    }
    // Only when a concurrent first sight committed the row after this statement's snapshot was
    // taken: the conflict was seen, the row was not. A new statement sees it.
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from users where tenant_id = $1 and subject = $2"
    ))
    .bind(tenant)
    .bind(subject)
    .fetch_one(tx.as_mut())
    .await
}

/// One user of the tenant (soft-deleted users included).
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant(), user_id = %id))]
pub async fn get(tx: &mut TenantTx<'_>, id: UserId) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(concat!(
        "select ",
        columns!(),
        " from users where tenant_id = $1 and id = $2"
    ))
    .bind(tx.tenant())
    .bind(id)
    .fetch_optional(tx.as_mut())
    .await
}

/// The tenant's live users, oldest first, keyset-paginated on (created_at, id).
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant()))]
pub async fn list(
    tx: &mut TenantTx<'_>,
    after: Option<&Cursor>,
    limit: PageLimit,
) -> Result<Page<User>, sqlx::Error> {
    let rows: Vec<User> = match after {
        None => {
            sqlx::query_as(concat!(
                "select ",
                columns!(),
                " from users where tenant_id = $1 and deleted_at is null",
                " order by created_at, id limit $2"
            ))
            .bind(tx.tenant())
            .bind(limit.fetch())
            .fetch_all(tx.as_mut())
            .await?
        }
        Some(cursor) => {
            sqlx::query_as(concat!(
                "select ",
                columns!(),
                " from users where tenant_id = $1 and deleted_at is null",
                " and (created_at, id) > ($2, $3)",
                " order by created_at, id limit $4"
            ))
            .bind(tx.tenant())
            .bind(cursor.at)
            .bind(cursor.id)
            .bind(limit.fetch())
            .fetch_all(tx.as_mut())
            .await?
        }
    };
    Ok(Page::from_rows(rows, limit, |u| {
        Cursor::new(u.created_at, u.id.as_uuid())
    }))
}

/// Disables (`disabled = true`) or enables one user of the transaction's tenant, by id, and
/// announces it to every replica at commit. `None` when the tenant has no such user. A user
/// already in the wanted state is returned unchanged (the call is idempotent).
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant(), user_id = %id, disabled))]
pub async fn set_disabled(
    tx: &mut TenantTx<'_>,
    id: UserId,
    disabled: bool,
) -> Result<Option<User>, sqlx::Error> {
    let tenant = tx.tenant();
    let user: Option<User> = sqlx::query_as(concat!(
        "update users set disabled_at = case when $3 then coalesce(disabled_at, now()) end",
        " where tenant_id = $1 and id = $2 returning ",
        columns!()
    ))
    .bind(tenant)
    .bind(id)
    .bind(disabled)
    .fetch_optional(tx.as_mut())
    .await?;
    if let Some(user) = &user {
        announce(tx, user).await?;
    }
    Ok(user)
}

/// Operator command (`haven users disable|enable`): like [`set_disabled`] but by subject, and a
/// subject never seen yet gets its row now, so a user can be disabled before its first request.
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant(), disabled))]
pub async fn set_disabled_by_subject(
    tx: &mut TenantTx<'_>,
    subject: &str,
    disabled: bool,
) -> Result<User, sqlx::Error> {
    let tenant = tx.tenant();
    let user: User = sqlx::query_as(concat!(
        "insert into users (tenant_id, subject, disabled_at)",
        " values ($1, $2, case when $3 then now() end)",
        " on conflict (tenant_id, subject) do update set disabled_at =",
        " case when $3 then coalesce(users.disabled_at, now()) end returning ",
        columns!()
    ))
    .bind(tenant)
    .bind(subject)
    .bind(disabled)
    .fetch_one(tx.as_mut())
    .await?;
    announce(tx, &user).await?;
    Ok(user)
}

async fn announce(tx: &mut TenantTx<'_>, user: &User) -> Result<(), sqlx::Error> {
    let event = Invalidation::UserStatus {
        tenant_id: user.tenant_id,
        subject: user.subject.clone(),
    };
    invalidation::notify(tx.as_mut(), &event).await
}
