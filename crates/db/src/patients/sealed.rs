//! A patient as stored: its PHI columns sealed by the tenant's [`FieldCipher`] (bound to
//! table, column and row id), the blind indexes the list filters and the mrn uniqueness use.

use time::Date;
use uuid::Uuid;

use super::{NewPatient, Patient, Sex};
use crate::fields::{BlindIndexKind, Field, FieldCipher, open_json, open_text};
use crate::ids::{PatientId, TenantId};

pub(super) const TABLE: &str = "patients";

/// A row as selected (`SELECT`/`RETURNING` of the parent module): PHI columns still sealed.
#[derive(sqlx::FromRow)]
pub(super) struct StoredPatient {
    pub(super) id: PatientId,
    tenant_id: TenantId,
    mrn: Vec<u8>,
    given_name: Vec<u8>,
    family_name: Vec<u8>,
    birth_date: Vec<u8>,
    sex: Sex,
    contact: Vec<u8>,
    pub(super) created_at: time::OffsetDateTime,
    updated_at: time::OffsetDateTime,
    deleted_at: Option<time::OffsetDateTime>,
}

impl StoredPatient {
    /// Opens every PHI column; a value that fails authentication is an error, never a guess.
    pub(super) fn open(self, cipher: &dyn FieldCipher) -> Result<Patient, sqlx::Error> {
        let row = self.id.as_uuid();
        let field = |column| Field::new(TABLE, column, row);
        let birth_date = open_text(cipher, field("birth_date"), &self.birth_date)?;
        let birth_date = Date::parse(&birth_date, DATE).map_err(|_| {
            sqlx::Error::Decode(format!("patients.birth_date of row {row} is not a date").into())
        })?;
        Ok(Patient {
            id: self.id,
            tenant_id: self.tenant_id,
            mrn: open_text(cipher, field("mrn"), &self.mrn)?,
            given_name: open_text(cipher, field("given_name"), &self.given_name)?,
            family_name: open_text(cipher, field("family_name"), &self.family_name)?,
            birth_date,
            sex: self.sex,
            contact: open_json(cipher, field("contact"), &self.contact)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
            deleted_at: self.deleted_at,
        })
    }
}

/// `YYYY-MM-DD`: how a birth date is sealed and blind-indexed.
const DATE: &[time::format_description::BorrowedFormatItem<'_>] =
    time::macros::format_description!("[year]-[month]-[day]");

pub(super) fn date_text(date: Date) -> String {
    date.format(DATE).unwrap_or_else(|_| date.to_string())
}

/// The sealed columns and blind indexes of one row, in the order of [`SEALED_COLUMNS`].
pub(super) struct SealedRow(pub(super) [Vec<u8>; 8]);

/// The columns a write sets from a [`SealedRow`] (then `sex` separately).
pub(super) const SEALED_COLUMNS: &str = "mrn, given_name, family_name, birth_date, contact, \
                                         mrn_bidx, family_name_bidx, birth_date_bidx";

/// Seals `p` for row `id`. Fails only for a value without a normal form, which the API's
/// validation refuses first.
pub(super) fn seal(
    cipher: &dyn FieldCipher,
    id: Uuid,
    p: &NewPatient,
) -> Result<SealedRow, sqlx::Error> {
    let field = |column| Field::new(TABLE, column, id);
    let birth_date = date_text(p.birth_date);
    let index = |kind, value: &str| {
        cipher.blind_index(kind, value).ok_or_else(|| {
            sqlx::Error::Encode(format!("a patient's {kind:?} has no normal form").into())
        })
    };
    Ok(SealedRow([
        cipher.seal(field("mrn"), p.mrn.as_bytes()),
        cipher.seal(field("given_name"), p.given_name.as_bytes()),
        cipher.seal(field("family_name"), p.family_name.as_bytes()),
        cipher.seal(field("birth_date"), birth_date.as_bytes()),
        cipher.seal(field("contact"), p.contact.to_string().as_bytes()),
        index(BlindIndexKind::Mrn, &p.mrn)?,
        index(BlindIndexKind::FamilyName, &p.family_name)?,
        index(BlindIndexKind::BirthDate, &birth_date)?,
    ]))
}
