//! Patients of a tenant: their columns, the exact-match list filters and the patch; the kit
//! (`crate::resource`) reads, creates and soft-deletes them as it does any resource.
//!
//! The PHI columns (`mrn`, `given_name`, `family_name`, `birth_date`, `contact`) are stored
//! sealed by the tenant's field cipher; `mrn`, `family_name` (case-folded) and `birth_date` are
//! found, and `mrn` kept unique, through their blind indexes.

use time::Date;

use crate::fields::{BlindIndexKind as Kind, FieldCipher};
use crate::ids::PatientId;
use crate::page::{Cursor, Page, PageLimit};
use crate::patch::{Updated, apply};
use crate::resource::{self, Fields, Reader, Row, Writer, date_text};
use crate::tenant::TenantTx;

/// Limits the API validates against (the columns are sealed: the database cannot check them).
pub const MRN_MAX_CHARS: usize = 64;
pub const NAME_MAX_CHARS: usize = 200;
/// The earliest birth date is January 1st of this year.
pub const BIRTH_YEAR_MIN: i32 = 1850;
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
pub type Patient = Row<PatientFields>;

/// A patient's own columns (a new patient, as the API validated it; serialized, what its
/// `Idempotency-Key` is bound to). A live patient with the same `mrn` makes a create fail with
/// 23505 on [`MRN_UNIQUE`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PatientFields {
    /// Medical record number: unique among the tenant's live patients.
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    #[serde(serialize_with = "resource::serialize_date")]
    pub birth_date: Date,
    pub sex: Sex,
    /// Always a JSON object.
    pub contact: serde_json::Value,
}

impl Fields for PatientFields {
    type Id = PatientId;
    const TABLE: &'static str = "patients";

    fn read(row: &Reader<'_>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            mrn: row.text("mrn")?,
            given_name: row.text("given_name")?,
            family_name: row.text("family_name")?,
            birth_date: row.date("birth_date")?,
            sex: row.plain("sex")?,
            contact: row.json("contact")?,
        })
    }

    fn write(&self, row: &mut Writer<'_>) -> Result<(), sqlx::Error> {
        row.text("mrn", &self.mrn);
        row.text("given_name", &self.given_name);
        row.text("family_name", &self.family_name);
        row.date("birth_date", self.birth_date);
        row.plain("sex", self.sex);
        row.json("contact", &self.contact);
        row.index("mrn_bidx", Kind::Mrn, &self.mrn)?;
        row.index("family_name_bidx", Kind::FamilyName, &self.family_name)?;
        let birth_date = date_text(self.birth_date);
        row.index("birth_date_bidx", Kind::BirthDate, &birth_date)?;
        Ok(())
    }
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

/// One page of live patients, newest first, exact-match filtered through the blind indexes.
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant()))]
pub async fn list(
    tx: &mut TenantTx<'_>,
    cipher: &dyn FieldCipher,
    filter: &PatientFilter,
    after: Option<&Cursor>,
    limit: PageLimit,
) -> Result<Page<Patient>, sqlx::Error> {
    let (mrn, name) = (filter.mrn.as_deref(), filter.family_name.as_deref());
    let birth_date = filter.birth_date.map(date_text);
    let lookups = [
        ("mrn_bidx", Kind::Mrn, mrn),
        ("family_name_bidx", Kind::FamilyName, name),
        ("birth_date_bidx", Kind::BirthDate, birth_date.as_deref()),
    ];
    let filter = |query: &mut _| resource::push_lookups(query, cipher, &lookups);
    resource::list(tx, cipher, filter, (after, limit)).await
}

/// Applies `patch` to a live patient; `None` when missing or another tenant's.
#[tracing::instrument(skip_all, fields(tenant_id = %tx.tenant(), patient_id = %id))]
pub async fn update(
    tx: &mut TenantTx<'_>,
    cipher: &dyn FieldCipher,
    id: PatientId,
    patch: PatientPatch,
) -> Result<Option<Updated<Patient>>, sqlx::Error> {
    resource::update(tx, cipher, id, |p: &mut PatientFields, c| {
        apply("mrn", &mut p.mrn, patch.mrn, c);
        apply("given_name", &mut p.given_name, patch.given_name, c);
        apply("family_name", &mut p.family_name, patch.family_name, c);
        apply("birth_date", &mut p.birth_date, patch.birth_date, c);
        apply("sex", &mut p.sex, patch.sex, c);
        apply("contact", &mut p.contact, patch.contact, c);
    })
    .await
}
