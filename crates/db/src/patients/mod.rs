//! Patients of a tenant: the row, reads, writes, soft delete and the exact-match list filters.
//!
//! The PHI columns (`mrn`, `given_name`, `family_name`, `birth_date`, `contact`) are stored
//! sealed by the tenant's field cipher (`sealed.rs`); `mrn`, `family_name` (case-folded) and
//! `birth_date` are found, and `mrn` kept unique, through their blind indexes.

mod sealed;

use sqlx::{Postgres, QueryBuilder};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use self::sealed::{SEALED_COLUMNS, StoredPatient, date_text, seal};
use crate::fields::{BlindIndexKind, FieldCipher};
use crate::idempotency::{self, CreateOutcome, Key, Link};
use crate::ids::{PatientId, TenantId};
use crate::page::{Cursor, Page, PageLimit};
use crate::patch::{Updated, apply};
use crate::tenant::TenantTx;

/// Limits the schema enforces (CHECK constraints); the API validates against the same numbers.
pub const MRN_MAX_CHARS: usize = 64;
pub const NAME_MAX_CHARS: usize = 200;
/// Size of `contact` as JSON text.
pub const CONTACT_MAX_BYTES: usize = 8_192;
/// The unique index behind "one `mrn` per tenant", on the mrn's blind index (SQLSTATE 23505
/// names it).
pub const MRN_UNIQUE: &str = "patients_tenant_mrn_key";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, sqlx::Type,
)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

/// A patient, its PHI opened.
#[derive(Debug, Clone, PartialEq)]
pub struct Patient {
    pub id: PatientId,
    pub tenant_id: TenantId,
    /// Medical record number: unique among the tenant's live patients.
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Date,
    pub sex: Sex,
    /// Always a JSON object.
    pub contact: serde_json::Value,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub deleted_at: Option<OffsetDateTime>,
}

const SELECT: &str = "select id, tenant_id, mrn, given_name, family_name, birth_date, sex, \
                      contact, created_at, updated_at, deleted_at from patients where tenant_id = ";
const RETURNING: &str = " returning id, tenant_id, mrn, given_name, family_name, birth_date, \
                         sex, contact, created_at, updated_at, deleted_at";

/// A patient to create; the API has validated it against the limits above.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPatient {
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    pub birth_date: Date,
    pub sex: Sex,
    pub contact: serde_json::Value,
}

/// A partial update: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatientPatch {
    pub mrn: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub birth_date: Option<Date>,
    pub sex: Option<Sex>,
    pub contact: Option<serde_json::Value>,
}

/// Exact-match filters of the list; `None` means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientFilter {
    pub mrn: Option<String>,
    /// Compared case-insensitively.
    pub family_name: Option<String>,
    pub birth_date: Option<Date>,
}

/// The searchable columns, compared for equality only, through their blind indexes (each
/// lookup matches the written form and, while legacy rows are read, the plaintext form).
fn push_filters(
    query: &mut QueryBuilder<Postgres>,
    cipher: &dyn FieldCipher,
    filter: &PatientFilter,
) {
    let mut lookup = |column: &str, kind, value: &str| {
        query
            .push(format_args!(" and {column} = any("))
            .push_bind(cipher.blind_lookups(kind, value))
            .push(")");
    };
    if let Some(mrn) = &filter.mrn {
        lookup("mrn_bidx", BlindIndexKind::Mrn, mrn);
    }
    if let Some(name) = &filter.family_name {
        lookup("family_name_bidx", BlindIndexKind::FamilyName, name);
    }
    if let Some(date) = filter.birth_date {
        lookup(
            "birth_date_bidx",
            BlindIndexKind::BirthDate,
            &date_text(date),
        );
    }
}

/// The patient's sealed fields, then `sex`, as the columns after `tenant_id` and `id`.
fn push_row(
    mut row: sqlx::query_builder::Separated<'_, Postgres, &str>,
    sealed: sealed::SealedRow,
    sex: Sex,
) {
    for value in sealed.0 {
        row.push_bind(value);
    }
    row.push_bind(sex);
}

/// The live patient, unless missing, deleted or another tenant's (all alike: `None`). The
/// transaction's queued audit events are written in the same statement (denied on a miss).
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant(), patient_id = %id))]
pub async fn get(
    tx: &mut TenantTx<'_>,
    cipher: &dyn FieldCipher,
    id: PatientId,
) -> Result<Option<Patient>, sqlx::Error> {
    let tenant = tx.tenant();
    let found: Option<StoredPatient> = tx
        .fetch_optional_audited(|query| {
            query.push(SELECT).push_bind(tenant).push(" and id = ");
            query.push_bind(id).push(" and deleted_at is null");
        })
        .await?;
    found.map(|p| p.open(cipher)).transpose()
}

/// One page of live patients, newest first, keyset on (created_at, id), exact-match filtered.
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant()))]
pub async fn list(
    tx: &mut TenantTx<'_>,
    cipher: &dyn FieldCipher,
    filter: &PatientFilter,
    after: Option<&Cursor>,
    limit: PageLimit,
) -> Result<Page<Patient>, sqlx::Error> {
    let mut query = QueryBuilder::new(SELECT);
    query.push_bind(tx.tenant()).push(" and deleted_at is null");
    push_filters(&mut query, cipher, filter);
    if let Some(cursor) = after {
        query.push(" and (created_at, id) < (").push_bind(cursor.at);
        query.push(", ").push_bind(cursor.id).push(")");
    }
    query.push(" order by created_at desc, id desc limit ");
    query.push_bind(limit.fetch());
    let rows: Vec<StoredPatient> = query.build_query_as().fetch_all(tx.as_mut()).await?;
    let page = Page::from_rows(rows, limit, |p| Cursor::new(p.created_at, p.id.as_uuid()));
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|p| p.open(cipher))
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor,
    })
}

/// Creates a patient, under an `Idempotency-Key` when there is one. A live patient with the same
/// `mrn` fails with 23505 on [`MRN_UNIQUE`]. The row id is chosen here: it is bound into every
/// sealed field.
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant()))]
pub async fn create(
    tx: &mut TenantTx<'_>,
    cipher: &dyn FieldCipher,
    new: &NewPatient,
    key: Option<Key<'_>>,
) -> Result<CreateOutcome<Patient>, sqlx::Error> {
    let tenant = tx.tenant();
    let id = Uuid::new_v4();
    let sealed = seal(cipher, id, new)?;
    let insert = |query: &mut QueryBuilder<Postgres>| {
        query.push(format_args!(
            "insert into patients (tenant_id, id, {SEALED_COLUMNS}, sex) values ("
        ));
        query.push_bind(tenant).push(", ").push_bind(id).push(", ");
        push_row(query.separated(", "), sealed, new.sex);
        query.push(")").push(RETURNING);
    };
    let fetch = |query: &mut QueryBuilder<Postgres>, id| {
        query.push(SELECT).push_bind(tenant).push(" and id = ");
        query.push_bind(id);
    };
    let outcome: CreateOutcome<StoredPatient> =
        idempotency::create(tx, key, Link::Patient, insert, fetch).await?;
    outcome.try_map(|p| p.open(cipher))
}

/// Applies `patch` to a live patient (locked first, so concurrent patches apply one after the
/// other and each reports exactly the fields it changed). `None` when missing or another's.
/// A change re-seals every field under the tenant's active key version.
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant(), patient_id = %id))]
pub async fn update(
    tx: &mut TenantTx<'_>,
    cipher: &dyn FieldCipher,
    id: PatientId,
    patch: PatientPatch,
) -> Result<Option<Updated<Patient>>, sqlx::Error> {
    let mut query = QueryBuilder::new(SELECT);
    query
        .push_bind(tx.tenant())
        .push(" and id = ")
        .push_bind(id);
    query.push(" and deleted_at is null for update");
    let current: Option<StoredPatient> = query.build_query_as().fetch_optional(tx.as_mut()).await?;
    let Some(p) = current.map(|p| p.open(cipher)).transpose()? else {
        return Ok(None);
    };
    let mut new = NewPatient {
        mrn: p.mrn,
        given_name: p.given_name,
        family_name: p.family_name,
        birth_date: p.birth_date,
        sex: p.sex,
        contact: p.contact,
    };
    let mut changed = Vec::new();
    apply("mrn", &mut new.mrn, patch.mrn, &mut changed);
    apply(
        "given_name",
        &mut new.given_name,
        patch.given_name,
        &mut changed,
    );
    apply(
        "family_name",
        &mut new.family_name,
        patch.family_name,
        &mut changed,
    );
    apply(
        "birth_date",
        &mut new.birth_date,
        patch.birth_date,
        &mut changed,
    );
    apply("sex", &mut new.sex, patch.sex, &mut changed);
    apply("contact", &mut new.contact, patch.contact, &mut changed);
    let row = if changed.is_empty() {
        Patient {
            mrn: new.mrn,
            given_name: new.given_name,
            family_name: new.family_name,
            birth_date: new.birth_date,
            sex: new.sex,
            contact: new.contact,
            ..p
        }
    } else {
        let sealed = seal(cipher, id.as_uuid(), &new)?;
        let mut query = QueryBuilder::new(format!(
            "update patients set ({SEALED_COLUMNS}, sex, updated_at) = ("
        ));
        push_row(query.separated(", "), sealed, new.sex);
        query
            .push(", now()) where tenant_id = ")
            .push_bind(tx.tenant());
        query.push(" and id = ").push_bind(id).push(RETURNING);
        let stored: StoredPatient = query.build_query_as().fetch_one(tx.as_mut()).await?;
        stored.open(cipher)?
    };
    Ok(Some(Updated {
        row,
        changed_fields: changed,
    }))
}

/// Soft delete: sets `deleted_at`. `false` when there was nothing live to delete.
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant(), patient_id = %id))]
pub async fn soft_delete(tx: &mut TenantTx<'_>, id: PatientId) -> Result<bool, sqlx::Error> {
    crate::patch::soft_delete(tx, "patients", id.as_uuid()).await
}
