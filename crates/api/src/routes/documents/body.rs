//! The request bodies of create and update, their checks, and the hash an Idempotency-Key is
//! bound to.

use haven_db::documents::{DocumentPatch, NewDocument};
use haven_db::ids::PatientId;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::DocumentStatus;
use super::validate;
use crate::error::ApiError;
use crate::routes::input::{not_null, present};
use crate::routes::params::Problems;

/// A new document. Unknown fields are refused (422).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDocument {
    /// 1 to 500 characters, not blank.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub title: String,
    /// A file name (no `/` or `\`), 1 to 255 characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f/\\]*[^\s\u0000-\u001f\u007f-\u009f/\\][^\u0000-\u001f\u007f-\u009f/\\]*$"
    )]
    pub filename: String,
    /// A media type such as `application/pdf`, at most 255 characters.
    #[schema(
        min_length = 3,
        max_length = 255,
        pattern = r"^\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*(;[^\u0000-\u001f\u007f-\u009f]*)?$",
        example = "application/pdf"
    )]
    pub content_type: String,
    /// 0 or more; 0 when absent.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub size_bytes: i64,
    /// `pending` when absent.
    #[serde(default)]
    pub status: Option<DocumentStatus>,
    /// A JSON object, at most 64 KiB as JSON text; `{}` when absent.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// Base64 SHA-256 of the file (44 characters). With it the document awaits an upload:
    /// `size_bytes` (1 to STORAGE_MAX_UPLOAD_BYTES) and `content_type` (one of
    /// STORAGE_ALLOWED_CONTENT_TYPES) must describe the file exactly, `status` must be absent or
    /// `pending`, and the response carries `upload`, the presigned PUT to send it with.
    #[serde(default)]
    #[schema(
        min_length = 44,
        max_length = 44,
        pattern = r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$",
        example = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="
    )]
    pub sha256: Option<String>,
    /// Refused (422): the server sets it (the stored object's key).
    #[serde(default)]
    #[schema(ignore)]
    pub storage_location: Option<Value>,
    /// The patient the document belongs to, a patient of the caller's tenant.
    #[serde(default)]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub patient_id: Option<PatientId>,
}

/// A partial update: only the fields present change. At least one field is required; `null` is
/// accepted only for `patient_id` (which it detaches). `storage_location` is server-owned: any
/// value is refused (422). A document with content (created with `sha256`) keeps the
/// `content_type`, `size_bytes` and `status` its upload set: changing them is 409 CONTENT_002.
/// Unknown fields are refused (422).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDocument {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, max_length = 500, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, max_length = 255, pattern = r"^[^\u0000-\u001f\u007f-\u009f/\\]*[^\s\u0000-\u001f\u007f-\u009f/\\][^\u0000-\u001f\u007f-\u009f/\\]*$")]
    pub filename: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 3, max_length = 255, pattern = r"^\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*(;[^\u0000-\u001f\u007f-\u009f]*)?$")]
    pub content_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = i64, minimum = 0)]
    pub size_bytes: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = DocumentStatus)]
    pub status: Option<Option<DocumentStatus>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Object)]
    pub metadata: Option<Option<Map<String, Value>>>,
    /// Refused (422): the server sets it (the stored object's key).
    #[serde(default, deserialize_with = "present")]
    #[schema(ignore)]
    pub storage_location: Option<Option<Value>>,
    /// `null` detaches the document from its patient.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<uuid::Uuid>)]
    pub patient_id: Option<Option<PatientId>>,
}

impl CreateDocument {
    /// The checked document, or 422 with every problem.
    pub(super) fn validate(self) -> Result<NewDocument, ApiError> {
        let mut problems = Problems::default();
        validate::title(&mut problems, &self.title);
        validate::filename(&mut problems, &self.filename);
        validate::content_type(&mut problems, &self.content_type);
        validate::size_bytes(&mut problems, self.size_bytes);
        let metadata = Value::Object(self.metadata.unwrap_or_default());
        validate::metadata(&mut problems, &metadata);
        validate::storage_location(&mut problems, self.storage_location.is_some());
        problems.finish()?;
        Ok(NewDocument {
            title: self.title,
            filename: self.filename,
            content_type: self.content_type,
            size_bytes: self.size_bytes,
            status: self.status.unwrap_or(DocumentStatus::Pending).into(),
            metadata,
            storage_location: None,
            patient_id: self.patient_id,
            upload: None,
        })
    }
}

impl UpdateDocument {
    pub(super) fn validate(self) -> Result<DocumentPatch, ApiError> {
        let mut problems = Problems::default();
        let title = not_null(&mut problems, "title", self.title);
        let filename = not_null(&mut problems, "filename", self.filename);
        let content_type = not_null(&mut problems, "content_type", self.content_type);
        let size_bytes = not_null(&mut problems, "size_bytes", self.size_bytes);
        let status = not_null(&mut problems, "status", self.status);
        let metadata = not_null(&mut problems, "metadata", self.metadata).map(Value::Object);
        if let Some(title) = &title {
            validate::title(&mut problems, title);
        }
        if let Some(filename) = &filename {
            validate::filename(&mut problems, filename);
        }
        if let Some(content_type) = &content_type {
            validate::content_type(&mut problems, content_type);
        }
        if let Some(size) = size_bytes {
            validate::size_bytes(&mut problems, size);
        }
        if let Some(metadata) = &metadata {
            validate::metadata(&mut problems, metadata);
        }
        validate::storage_location(&mut problems, self.storage_location.is_some());
        let patch = problems.changes(DocumentPatch {
            title,
            filename,
            content_type,
            size_bytes,
            status: status.map(Into::into),
            metadata,
            patient_id: self.patient_id,
        });
        problems.finish()?;
        Ok(patch)
    }
}

/// The hash an `Idempotency-Key` is bound to (see `input::request_hash`).
pub(super) fn request_hash(new: &NewDocument) -> [u8; 32] {
    let mut value = serde_json::json!({
        "title": new.title,
        "filename": new.filename,
        "content_type": new.content_type,
        "size_bytes": new.size_bytes,
        "status": new.status.as_str(),
        "metadata": new.metadata,
        "storage_location": new.storage_location,
    });
    // Only when given, so keys issued before documents had patients keep their hashes.
    if let Some(patient) = new.patient_id {
        value["patient_id"] = serde_json::json!(patient);
    }
    crate::routes::input::request_hash(&value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn new(metadata: Value) -> NewDocument {
        CreateDocument {
            title: "t".into(),
            filename: "f.pdf".into(),
            content_type: "application/pdf".into(),
            size_bytes: 1,
            status: None,
            metadata: metadata.as_object().cloned(),
            sha256: None,
            storage_location: None,
            patient_id: None,
        }
        .validate()
        .unwrap()
    }

    #[test]
    fn the_request_hash_ignores_key_order_but_not_values() {
        let a = request_hash(&new(json!({"a": 1, "b": {"x": [1, 2], "y": null}})));
        let b = request_hash(&new(json!({"b": {"y": null, "x": [1, 2]}, "a": 1})));
        let c = request_hash(&new(json!({"a": 2, "b": {"x": [1, 2], "y": null}})));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn an_empty_or_null_patch_is_refused() {
        assert!(UpdateDocument::default().validate().is_err());
        let nulled: UpdateDocument = serde_json::from_value(json!({"title": null})).unwrap();
        assert!(nulled.validate().is_err());
        let cleared: UpdateDocument =
            serde_json::from_value(json!({"storage_location": null})).unwrap();
        assert!(
            cleared.validate().is_err(),
            "storage_location is server-owned"
        );
    }
}
