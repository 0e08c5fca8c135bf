//! Patient request and response bodies, their checks against the schema's limits, and the hash
//! an `Idempotency-Key` is bound to.

use haven_db::patients::{
    CONTACT_MAX_BYTES, MRN_MAX_CHARS, NAME_MAX_CHARS, Patient, PatientFields, PatientPatch, Sex,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::routes::input::{self, json_object, not_null, patch_text, present, required_text};
use crate::routes::params::{self, Problems};

/// A patient of the caller's tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientResponse {
    pub id: uuid::Uuid,
    /// Always the caller's own tenant.
    pub tenant_id: uuid::Uuid,
    /// Medical record number, unique among the tenant's patients.
    pub mrn: String,
    pub given_name: String,
    pub family_name: String,
    /// `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date)]
    pub birth_date: String,
    #[schema(value_type = String, example = "female", pattern = "^(female|male|other|unknown)$")]
    pub sex: Sex,
    /// A JSON object of the client's choosing (phone, email, address, ...).
    #[schema(value_type = Object)]
    pub contact: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Patient> for PatientResponse {
    fn from(p: Patient) -> Self {
        Self {
            id: p.id.as_uuid(),
            tenant_id: p.tenant_id.as_uuid(),
            mrn: p.fields.mrn,
            given_name: p.fields.given_name,
            family_name: p.fields.family_name,
            birth_date: p.fields.birth_date.to_string(),
            sex: p.fields.sex,
            contact: p.fields.contact,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A new patient. Unknown fields are refused (422).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePatient {
    /// 1 to 64 characters, unique in the tenant.
    #[schema(min_length = 1, max_length = 64)]
    pub mrn: String,
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub given_name: String,
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub family_name: String,
    /// `YYYY-MM-DD`, from 1850-01-01 to today.
    #[schema(format = Date, example = "1984-03-01")]
    pub birth_date: String,
    /// `female`, `male`, `other` or `unknown`.
    #[schema(value_type = String, example = "female", pattern = "^(female|male|other|unknown)$")]
    pub sex: Sex,
    /// A JSON object, at most 8 KiB as JSON text; `{}` when absent.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub contact: Option<Map<String, Value>>,
}

/// A partial update: only the fields present change, `null` is refused, at least one field is
/// required. Unknown fields are refused (422).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePatient {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, max_length = 64)]
    pub mrn: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub given_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub family_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, format = Date)]
    pub birth_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, pattern = "^(female|male|other|unknown)$")]
    pub sex: Option<Option<Sex>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Object)]
    pub contact: Option<Option<Map<String, Value>>>,
}

/// A real calendar date, not in the future and not before 1850.
fn birth_date(problems: &mut Problems, text: &str) -> Option<Date> {
    let date = problems.take("birth_date", params::date(Some(text)))??;
    let today = OffsetDateTime::now_utc().date();
    let earliest = Date::from_calendar_date(1850, time::Month::January, 1).ok()?;
    if date < earliest || date > today {
        problems.add("birth_date", "must be between 1850-01-01 and today");
        return None;
    }
    Some(date)
}

fn contact(problems: &mut Problems, contact: Map<String, Value>) -> Value {
    let contact = Value::Object(contact);
    json_object(problems, "contact", &contact, CONTACT_MAX_BYTES);
    contact
}

impl CreatePatient {
    /// The checked patient, or 422 with every problem.
    pub(super) fn validate(self) -> Result<PatientFields, ApiError> {
        let mut problems = Problems::default();
        let p = &mut problems;
        required_text(p, "mrn", &self.mrn, MRN_MAX_CHARS);
        required_text(p, "given_name", &self.given_name, NAME_MAX_CHARS);
        required_text(p, "family_name", &self.family_name, NAME_MAX_CHARS);
        let birth_date = birth_date(p, &self.birth_date);
        let contact = contact(p, self.contact.unwrap_or_default());
        problems.finish()?;
        Ok(PatientFields {
            mrn: self.mrn,
            given_name: self.given_name,
            family_name: self.family_name,
            // A placeholder only while a problem is reported, and then `finish` refused it.
            birth_date: birth_date.unwrap_or(Date::MIN),
            sex: self.sex,
            contact,
        })
    }
}

impl UpdatePatient {
    pub(super) fn validate(self) -> Result<PatientPatch, ApiError> {
        let mut problems = Problems::default();
        let p = &mut problems;
        let patch = PatientPatch {
            mrn: patch_text(p, "mrn", self.mrn, MRN_MAX_CHARS),
            given_name: patch_text(p, "given_name", self.given_name, NAME_MAX_CHARS),
            family_name: patch_text(p, "family_name", self.family_name, NAME_MAX_CHARS),
            birth_date: not_null(p, "birth_date", self.birth_date).and_then(|d| birth_date(p, &d)),
            sex: not_null(p, "sex", self.sex),
            contact: not_null(p, "contact", self.contact).map(|c| contact(p, c)),
        };
        if problems.is_empty() && patch == PatientPatch::default() {
            problems.add("body", "at least one field is required");
        }
        problems.finish()?;
        Ok(patch)
    }
}

/// The hash an `Idempotency-Key` is bound to (see `input::request_hash`).
pub(super) fn request_hash(new: &PatientFields) -> [u8; 32] {
    input::request_hash(&json!({
        "resource": "patient",
        "mrn": new.mrn,
        "given_name": new.given_name,
        "family_name": new.family_name,
        "birth_date": new.birth_date.to_string(),
        "sex": new.sex,
        "contact": new.contact,
    }))
}
