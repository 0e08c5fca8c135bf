//! Creating a row under an `Idempotency-Key` (scoped to tenant and user), for any resource.
//!
//! The key row is claimed first with `insert ... on conflict do nothing`. A concurrent request
//! with the same key blocks on that insert until the first transaction ends: if it committed,
//! the insert does nothing and a fresh read finds its key row (replay, or a different body); if
//! it rolled back, this one claims the key. So two identical requests racing create one row.

use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use crate::ids::UserId;
use crate::tenant::TenantTx;

/// The longest key accepted (the column's CHECK).
pub const KEY_MAX_CHARS: usize = 255;

/// A client's key (scoped to its user) and the hash of its request as validated (equal
/// requests, equal hashes).
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    pub user: UserId,
    pub key: &'a str,
    pub request_hash: &'a [u8],
}

/// The `idempotency_keys` column that links a key to what it created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Document,
    Patient,
}

impl Link {
    const fn column(self) -> &'static str {
        match self {
            Self::Document => "document_id",
            Self::Patient => "patient_id",
        }
    }
}

/// What a create did with the request.
#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome<T> {
    /// Created in this transaction.
    Created(T),
    /// The key was used before with the same request: the row created then (as it is now,
    /// possibly updated or soft-deleted since). Nothing new was created.
    Replayed(T),
    /// The key was used before with a different request: nothing was created.
    KeyReusedWithDifferentBody,
}

impl<T> CreateOutcome<T> {
    /// The same outcome with its row converted (a stored row opened, for instance).
    pub fn try_map<U, E>(self, f: impl FnOnce(T) -> Result<U, E>) -> Result<CreateOutcome<U>, E> {
        Ok(match self {
            Self::Created(row) => CreateOutcome::Created(f(row)?),
            Self::Replayed(row) => CreateOutcome::Replayed(f(row)?),
            Self::KeyReusedWithDifferentBody => CreateOutcome::KeyReusedWithDifferentBody,
        })
    }
}

/// Runs the `insert ... returning` that `push_insert` appends, under `key` when there is one.
/// `push_fetch` appends the select of a replayed row by id (soft-deleted rows included). The
/// row comes back as selected, for the caller to read.
pub async fn create(
    tx: &mut TenantTx<'_>,
    key: Option<Key<'_>>,
    link: Link,
    push_insert: impl FnOnce(&mut QueryBuilder<Postgres>),
    push_fetch: impl FnOnce(&mut QueryBuilder<Postgres>, Uuid),
) -> Result<CreateOutcome<PgRow>, sqlx::Error> {
    let Some(key) = key else {
        let mut query = QueryBuilder::new("");
        push_insert(&mut query);
        return Ok(CreateOutcome::Created(
            query.build().fetch_one(tx.as_mut()).await?,
        ));
    };
    let (tenant, user) = (tx.tenant(), key.user);
    let claimed = sqlx::query(
        "insert into idempotency_keys (tenant_id, user_id, key, request_hash) \
         values ($1, $2, $3, $4) on conflict do nothing",
    )
    .bind(tenant)
    .bind(user)
    .bind(key.key)
    .bind(key.request_hash)
    .execute(tx.as_mut())
    .await?
    .rows_affected()
        == 1;
    if claimed {
        // The row and the key's link to it in one statement.
        let mut query = QueryBuilder::new("with created as (");
        push_insert(&mut query);
        query
            .push(format_args!(
                "), linked as (update idempotency_keys set {} = ",
                link.column()
            ))
            .push("(select id from created) where tenant_id = ")
            .push_bind(tenant)
            .push(" and user_id = ")
            .push_bind(user)
            .push(" and key = ")
            .push_bind(key.key.to_owned())
            .push(") select * from created");
        return Ok(CreateOutcome::Created(
            query.build().fetch_one(tx.as_mut()).await?,
        ));
    }
    let mut query = QueryBuilder::new("select request_hash = ");
    query
        .push_bind(key.request_hash.to_vec())
        .push(format_args!(
            ", {} from idempotency_keys where tenant_id = ",
            link.column()
        ))
        .push_bind(tenant)
        .push(" and user_id = ")
        .push_bind(user)
        .push(" and key = ")
        .push_bind(key.key.to_owned());
    let (same_body, id): (bool, Option<Uuid>) =
        query.build_query_as().fetch_one(tx.as_mut()).await?;
    // A key used for another kind of resource links nothing here: a different request.
    let (true, Some(id)) = (same_body, id) else {
        return Ok(CreateOutcome::KeyReusedWithDifferentBody);
    };
    let mut query = QueryBuilder::new("");
    push_fetch(&mut query, id);
    Ok(CreateOutcome::Replayed(
        query.build().fetch_one(tx.as_mut()).await?,
    ))
}
