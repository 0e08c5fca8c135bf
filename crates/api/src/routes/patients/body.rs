//! Patient request and response bodies and their checks against the schema's limits.

use haven_db::patients::{
    BIRTH_YEAR_MIN, CONTACT_MAX_BYTES, MRN_MAX_CHARS, NAME_MAX_CHARS, Patient, PatientFields,
    PatientPatch, Sex,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::{Date, OffsetDateTime};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::routes::input::{not_null, object, past_date, patch_text, present, required_text};
use crate::routes::params::Problems;

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

impl CreatePatient {
    /// The checked patient, or 422 with every problem.
    pub(super) fn validate(self) -> Result<PatientFields, ApiError> {
        Problems::check(|p| {
            required_text(p, "mrn", &self.mrn, MRN_MAX_CHARS);
            required_text(p, "given_name", &self.given_name, NAME_MAX_CHARS);
            required_text(p, "family_name", &self.family_name, NAME_MAX_CHARS);
            let birth_date = past_date(p, "birth_date", &self.birth_date, BIRTH_YEAR_MIN);
            let contact = self.contact.unwrap_or_default();
            PatientFields {
                mrn: self.mrn,
                given_name: self.given_name,
                family_name: self.family_name,
                // A placeholder only while a problem is reported, and then `check` refuses it.
                birth_date: birth_date.unwrap_or(Date::MIN),
                sex: self.sex,
                contact: object(p, "contact", contact, CONTACT_MAX_BYTES),
            }
        })
    }
}

impl UpdatePatient {
    pub(super) fn validate(self) -> Result<PatientPatch, ApiError> {
        Problems::check(|p| {
            let patch = PatientPatch {
                mrn: patch_text(p, "mrn", self.mrn, MRN_MAX_CHARS),
                given_name: patch_text(p, "given_name", self.given_name, NAME_MAX_CHARS),
                family_name: patch_text(p, "family_name", self.family_name, NAME_MAX_CHARS),
                birth_date: not_null(p, "birth_date", self.birth_date)
                    .and_then(|d| past_date(p, "birth_date", &d, BIRTH_YEAR_MIN)),
                sex: not_null(p, "sex", self.sex),
                contact: not_null(p, "contact", self.contact)
                    .map(|c| object(p, "contact", c, CONTACT_MAX_BYTES)),
            };
            p.changes(patch)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::input::{request_hash, resource_hash};
    use serde_json::json;

    #[test]
    fn the_request_hash_is_the_one_keys_were_stored_with() {
        let body = json!({"mrn": "M-1", "given_name": "Ada", "family_name": "Byron",
            "birth_date": "1815-12-10", "sex": "female", "contact": {"phone": "1"}});
        let mut new: CreatePatient = serde_json::from_value(body).unwrap();
        new.birth_date = "1985-12-10".to_owned();
        let new = new.validate().unwrap();
        // The hash before the kit computed it from the serialized fields.
        let before = request_hash(&json!({
            "resource": "patient",
            "mrn": new.mrn,
            "given_name": new.given_name,
            "family_name": new.family_name,
            "birth_date": new.birth_date.to_string(),
            "sex": new.sex,
            "contact": new.contact,
        }));
        assert_eq!(resource_hash("patient", &new).unwrap(), before);
    }

    #[test]
    fn bad_fields_are_reported_each_under_its_name() {
        let body = json!({"mrn": " ", "given_name": "A", "family_name": "B",
            "birth_date": "1849-12-31", "sex": "other", "contact": {"x": "a\u{0}b"}});
        let new: CreatePatient = serde_json::from_value(body).unwrap();
        let error = format!("{:?}", new.validate().unwrap_err());
        for field in ["mrn", "birth_date", "contact"] {
            assert!(error.contains(field), "{field} in {error}");
        }
        assert!(error.contains("must be between 1850-01-01 and today"));
        assert!(UpdatePatient::default().validate().is_err());
    }
}
