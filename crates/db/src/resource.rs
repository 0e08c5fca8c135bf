//! The resource kit's query functions: a tenant table whose own columns are one [`Fields`] type
//! (sealed where they hold PHI) is read, listed, created, updated and soft-deleted here, so a
//! resource module declares its columns once and calls these.
//!
//! Every such table has `id`, `tenant_id`, `created_at`, `updated_at` and `deleted_at` (the
//! migration's block in docs/EXTENDING.md); a row is read by column name, so `select *` is safe
//! against column order. A sealed value is bound to its table, column and row id.

use std::fmt::Display;

use sqlx::postgres::PgRow;
use sqlx::query_builder::Separated;
use sqlx::{Decode, Encode, Postgres, QueryBuilder, Row as _, Type};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::fields::{BlindIndexKind, Field, FieldCipher, open_json, open_text};
use crate::idempotency::{self, CreateOutcome, Key, Link};
use crate::ids::TenantId;
use crate::page::{self, Cursor, Page, PageLimit};
pub use crate::patch::Updated;
use crate::tenant::TenantTx;

/// A row of a resource table: the columns every resource has, and its own `fields`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<F: Fields> {
    pub id: F::Id,
    pub tenant_id: TenantId,
    pub fields: F,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// Set once soft-deleted (only a replayed create returns such a row).
    pub deleted_at: Option<OffsetDateTime>,
}

/// A resource's own columns: how they are read from a row and written, each sealed PHI column
/// and blind index named once.
pub trait Fields: Sized {
    /// The typed id of its rows.
    type Id: From<Uuid> + Into<Uuid> + Copy + Display + std::fmt::Debug + PartialEq;

    /// The resource's table.
    const TABLE: &'static str;

    /// The fields of a selected row, sealed columns opened.
    fn read(row: &Reader<'_>) -> Result<Self, sqlx::Error>;

    /// Every column a write sets, in any order, sealed where it holds PHI.
    fn write(&self, row: &mut Writer<'_>) -> Result<(), sqlx::Error>;
}

/// A selected row of a [`Fields`] table, opened with the transaction's cipher.
pub struct Reader<'a> {
    row: &'a PgRow,
    cipher: &'a dyn FieldCipher,
    table: &'static str,
    id: Uuid,
}

impl Reader<'_> {
    /// A column stored as it is.
    pub fn plain<T>(&self, column: &str) -> Result<T, sqlx::Error>
    where
        T: for<'r> Decode<'r, Postgres> + Type<Postgres>,
    {
        self.row.try_get(column)
    }

    /// A sealed text column; a value that fails authentication is an error, never a guess.
    pub fn text(&self, column: &'static str) -> Result<String, sqlx::Error> {
        let stored: Vec<u8> = self.row.try_get(column)?;
        open_text(
            self.cipher,
            Field::new(self.table, column, self.id),
            &stored,
        )
    }

    /// A sealed JSON column.
    pub fn json(&self, column: &'static str) -> Result<serde_json::Value, sqlx::Error> {
        let stored: Vec<u8> = self.row.try_get(column)?;
        open_json(
            self.cipher,
            Field::new(self.table, column, self.id),
            &stored,
        )
    }

    /// A sealed date column (`YYYY-MM-DD`, see [`date_text`]).
    pub fn date(&self, column: &'static str) -> Result<Date, sqlx::Error> {
        Date::parse(&self.text(column)?, DATE).map_err(|_| {
            let (table, id) = (self.table, self.id);
            sqlx::Error::Decode(format!("{table}.{column} of row {id} is not a date").into())
        })
    }
}

/// `YYYY-MM-DD`: how a date is sealed and blind-indexed.
const DATE: &[time::format_description::BorrowedFormatItem<'_>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// A date as sealed and blind-indexed.
pub fn date_text(date: Date) -> String {
    date.format(DATE).unwrap_or_else(|_| date.to_string())
}

/// Serializes a date as [`date_text`] (`#[serde(serialize_with = ...)]` on a [`Fields`] date).
pub fn serialize_date<S: serde::Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&date_text(*date))
}

type Bind = Box<dyn FnOnce(&mut Separated<'_, Postgres, &'static str>) + Send>;

/// The columns a write sets, sealed by the transaction's cipher for one row.
pub struct Writer<'a> {
    cipher: &'a dyn FieldCipher,
    table: &'static str,
    id: Uuid,
    columns: Vec<(&'static str, Bind)>,
}

impl Writer<'_> {
    /// A column stored as it is.
    pub fn plain<T>(&mut self, column: &'static str, value: T) -> &mut Self
    where
        T: for<'q> Encode<'q, Postgres> + Type<Postgres> + Send + 'static,
    {
        let bind: Bind = Box::new(move |row| {
            row.push_bind(value);
        });
        self.columns.push((column, bind));
        self
    }

    /// A PHI column, sealed for this table, column and row.
    pub fn sealed(&mut self, column: &'static str, plaintext: &[u8]) -> &mut Self {
        let field = Field::new(self.table, column, self.id);
        let stored = self.cipher.seal(field, plaintext);
        self.plain(column, stored)
    }

    /// A sealed text column.
    pub fn text(&mut self, column: &'static str, value: &str) -> &mut Self {
        self.sealed(column, value.as_bytes())
    }

    /// A sealed JSON column.
    pub fn json(&mut self, column: &'static str, value: &serde_json::Value) -> &mut Self {
        self.sealed(column, value.to_string().as_bytes())
    }

    /// A sealed date column (`YYYY-MM-DD`, see [`date_text`]).
    pub fn date(&mut self, column: &'static str, value: Date) -> &mut Self {
        self.sealed(column, date_text(value).as_bytes())
    }

    /// The blind index of `value`, in the index column `column` (`<PHI column>_bidx` by
    /// convention). Fails only for a value without a normal form, which the API's validation
    /// refuses first.
    pub fn index(
        &mut self,
        column: &'static str,
        kind: BlindIndexKind,
        value: &str,
    ) -> Result<&mut Self, sqlx::Error> {
        let index = self.cipher.blind_index(kind, value).ok_or_else(|| {
            let table = self.table;
            sqlx::Error::Encode(format!("a {table} {kind:?} has no normal form").into())
        })?;
        Ok(self.plain(column, index))
    }
}

/// The columns `fields` writes for row `id`, and the `, `-separated list of their names.
fn write<F: Fields>(
    cipher: &dyn FieldCipher,
    id: Uuid,
    fields: &F,
) -> Result<(String, Vec<Bind>), sqlx::Error> {
    let mut writer = Writer {
        cipher,
        table: F::TABLE,
        id,
        columns: Vec::new(),
    };
    fields.write(&mut writer)?;
    let (names, binds): (Vec<_>, Vec<_>) = writer.columns.into_iter().unzip();
    Ok((names.join(", "), binds))
}

fn push_binds(query: &mut QueryBuilder<Postgres>, binds: Vec<Bind>) {
    let mut row = query.separated(", ");
    binds.into_iter().for_each(|bind| bind(&mut row));
}

fn read<F: Fields>(row: &PgRow, cipher: &dyn FieldCipher) -> Result<Row<F>, sqlx::Error> {
    let id: Uuid = row.try_get("id")?;
    let reader = Reader {
        row,
        cipher,
        table: F::TABLE,
        id,
    };
    Ok(Row {
        id: F::Id::from(id),
        tenant_id: row.try_get("tenant_id")?,
        fields: F::read(&reader)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

/// `select * from <table> where tenant_id = <the transaction's tenant>`, to go on with ` and`.
fn select<F: Fields>(tenant: TenantId) -> QueryBuilder<Postgres> {
    let mut query = QueryBuilder::new(format!("select * from {} where tenant_id = ", F::TABLE));
    query.push_bind(tenant);
    query
}

/// The live row `id`, unless missing, deleted or another tenant's (all alike: `None`). The
/// transaction's queued audit events are written in the same statement (denied on a miss).
#[tracing::instrument(skip_all, fields(table = F::TABLE, tenant_id = %tx.tenant(), id = %id))]
pub async fn get<F: Fields>(
    tx: &mut TenantTx<'_>,
    cipher: &dyn FieldCipher,
    id: F::Id,
) -> Result<Option<Row<F>>, sqlx::Error> {
    let tenant = tx.tenant();
    let found = tx
        .fetch_optional_audited_row(|query| {
            query.push(format_args!(
                "select * from {} where tenant_id = ",
                F::TABLE
            ));
            query
                .push_bind(tenant)
                .push(" and id = ")
                .push_bind(id.into());
            query.push(" and deleted_at is null");
        })
        .await?;
    found.map(|row| read(&row, cipher)).transpose()
}

/// One page of live rows, newest first, keyset on (created_at, id); `filter` appends the list's
/// conditions (` and ...`, values bound).
#[tracing::instrument(skip_all, fields(table = F::TABLE, tenant_id = %tx.tenant()))]
pub async fn list<F: Fields>(
    tx: &mut TenantTx<'_>,
    cipher: &dyn FieldCipher,
    filter: impl FnOnce(&mut QueryBuilder<Postgres>),
    page: (Option<&Cursor>, PageLimit),
) -> Result<Page<Row<F>>, sqlx::Error> {
    let mut query = select::<F>(tx.tenant());
    query.push(" and deleted_at is null");
    filter(&mut query);
    page::keyset(tx, query, page, |row| read(row, cipher)).await
}

/// Appends ` and <column> = any(<lookups>)` for each exact-match filter given (`<column>` a
/// blind index of `kind`): each lookup matches the written form and, while rows stored before
/// encryption are read, their plaintext form.
pub fn push_lookups(
    query: &mut QueryBuilder<Postgres>,
    cipher: &dyn FieldCipher,
    lookups: &[(&str, BlindIndexKind, Option<&str>)],
) {
    for &(column, kind, value) in lookups {
        if let Some(value) = value {
            query.push(format_args!(" and {column} = any("));
            query.push_bind(cipher.blind_lookups(kind, value)).push(")");
        }
    }
}

/// Creates a row, under an `Idempotency-Key` when there is one (see [`idempotency`]). Its id is
/// chosen here: it is bound into every sealed column.
#[tracing::instrument(skip_all, fields(table = F::TABLE, tenant_id = %tx.tenant()))]
pub async fn create<F: Fields>(
    tx: &mut TenantTx<'_>,
    cipher: &dyn FieldCipher,
    fields: &F,
    (key, link): (Option<Key<'_>>, Link),
) -> Result<CreateOutcome<Row<F>>, sqlx::Error> {
    let (tenant, id) = (tx.tenant(), Uuid::new_v4());
    let (names, binds) = write(cipher, id, fields)?;
    let insert = |query: &mut QueryBuilder<Postgres>| {
        let table = F::TABLE;
        query.push(format_args!(
            "insert into {table} (tenant_id, id, {names}) values ("
        ));
        query.push_bind(tenant).push(", ").push_bind(id).push(", ");
        push_binds(query, binds);
        query.push(") returning *");
    };
    let fetch = |query: &mut QueryBuilder<Postgres>, id| {
        query.push(format_args!(
            "select * from {} where tenant_id = ",
            F::TABLE
        ));
        query.push_bind(tenant).push(" and id = ").push_bind(id);
    };
    let outcome = idempotency::create(tx, key, link, insert, fetch).await?;
    outcome.try_map(|row| read(&row, cipher))
}

/// Applies `patch` (which notes the names of the fields it changed) to the live row `id`, locked
/// first so concurrent patches apply one after the other and each reports exactly its changes.
/// `None` when missing, deleted or another tenant's. A change rewrites every column, re-sealed
/// under the tenant's active key version.
#[tracing::instrument(skip_all, fields(table = F::TABLE, tenant_id = %tx.tenant(), id = %id))]
pub async fn update<F: Fields>(
    tx: &mut TenantTx<'_>,
    cipher: &dyn FieldCipher,
    id: F::Id,
    patch: impl FnOnce(&mut F, &mut Vec<&'static str>),
) -> Result<Option<Updated<Row<F>>>, sqlx::Error> {
    let id: Uuid = id.into();
    let mut query = select::<F>(tx.tenant());
    query.push(" and id = ").push_bind(id);
    query.push(" and deleted_at is null for update");
    let Some(current) = query.build().fetch_optional(tx.as_mut()).await? else {
        return Ok(None);
    };
    let mut row: Row<F> = read(&current, cipher)?;
    let mut changed = Vec::new();
    patch(&mut row.fields, &mut changed);
    if !changed.is_empty() {
        let (names, binds) = write(cipher, id, &row.fields)?;
        let mut query =
            QueryBuilder::new(format!("update {} set ({names}, updated_at) = (", F::TABLE));
        push_binds(&mut query, binds);
        query
            .push(", now()) where tenant_id = ")
            .push_bind(tx.tenant());
        query.push(" and id = ").push_bind(id).push(" returning *");
        row = read(&query.build().fetch_one(tx.as_mut()).await?, cipher)?;
    }
    Ok(Some(Updated {
        row,
        changed_fields: changed,
    }))
}

/// Soft delete: sets `deleted_at`. `false` when there was nothing live to delete (missing,
/// deleted before, or another tenant's).
#[tracing::instrument(skip_all, fields(table = F::TABLE, tenant_id = %tx.tenant(), id = %id))]
pub async fn soft_delete<F: Fields>(tx: &mut TenantTx<'_>, id: F::Id) -> Result<bool, sqlx::Error> {
    crate::patch::soft_delete(tx, F::TABLE, id.into()).await
}

#[cfg(test)]
#[path = "resource_tests.rs"]
mod tests;
