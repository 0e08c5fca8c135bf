//! Which bucket and key, and the limits uploads and URLs are held to.

use std::time::Duration;

use secrecy::SecretString;

/// STORAGE_MAX_UPLOAD_BYTES unless configured: 100 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 100 * 1024 * 1024;
/// STORAGE_UPLOAD_URL_TTL_SECONDS unless configured: 15 minutes.
pub const DEFAULT_UPLOAD_URL_TTL: Duration = Duration::from_secs(15 * 60);
/// STORAGE_DOWNLOAD_URL_TTL_SECONDS unless configured: 5 minutes.
pub const DEFAULT_DOWNLOAD_URL_TTL: Duration = Duration::from_secs(5 * 60);
/// The longest either URL may live: one hour (SigV4 allows a week; PHI links should not).
pub const MAX_URL_TTL: Duration = Duration::from_secs(60 * 60);
/// STORAGE_ALLOWED_CONTENT_TYPES unless configured: documents a care team exchanges.
pub const DEFAULT_ALLOWED_CONTENT_TYPES: &[&str] = &[
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/tiff",
    "application/dicom",
    "text/plain",
    "application/json",
    "application/xml",
    "text/xml",
    "application/hl7-v3+xml",
];

/// Keys from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), as configuration
/// read them; the secret parts are masked in `Debug`.
#[derive(Debug, Clone)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub session_token: Option<SecretString>,
}

impl PartialEq for StaticCredentials {
    fn eq(&self, other: &Self) -> bool {
        self.access_key_id == other.access_key_id
    }
}

impl Eq for StaticCredentials {}

/// How to reach the bucket and what to hold uploads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageSettings {
    /// STORAGE_BUCKET.
    pub bucket: String,
    /// STORAGE_KMS_KEY_ID: a key id or key ARN. `None` (development only) asks for SSE-S3.
    pub kms_key_id: Option<String>,
    /// Region override; `None` uses the default chain (`AWS_REGION`, profile, IMDS).
    pub region: Option<String>,
    /// AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL): an S3-compatible store (Railway buckets,
    /// MinIO, moto); `None` is AWS itself.
    pub endpoint_url: Option<String>,
    /// Keys from the environment; `None` uses the rest of the default chain (profile, web
    /// identity, ECS or EC2 role).
    pub credentials: Option<StaticCredentials>,
    /// STORAGE_FORCE_PATH_STYLE: `bucket` in the path, for stores without virtual hosts.
    pub force_path_style: bool,
    pub max_upload_bytes: u64,
    /// Media types (`type/subtype`, lowercase) a document's content may have.
    pub allowed_content_types: Vec<String>,
    pub upload_url_ttl: Duration,
    pub download_url_ttl: Duration,
    /// Time allowed for one call to the store (HEAD, DELETE, the checks).
    pub attempt_timeout: Duration,
}

impl StorageSettings {
    /// Settings for `bucket` with every default.
    pub fn new(bucket: impl Into<String>) -> StorageSettings {
        StorageSettings {
            bucket: bucket.into(),
            kms_key_id: None,
            region: None,
            endpoint_url: None,
            credentials: None,
            force_path_style: false,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            allowed_content_types: DEFAULT_ALLOWED_CONTENT_TYPES
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
            upload_url_ttl: DEFAULT_UPLOAD_URL_TTL,
            download_url_ttl: DEFAULT_DOWNLOAD_URL_TTL,
            attempt_timeout: Duration::from_secs(5),
        }
    }

    /// Whether `content_type`'s essence (before any `;`) is allowed, ignoring case.
    pub fn allows_content_type(&self, content_type: &str) -> bool {
        let essence = essence(content_type);
        self.allowed_content_types.contains(&essence)
    }
}

/// `type/subtype` of a media type, lowercase, without parameters.
pub(crate) fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_masks_the_secret_key() {
        let mut settings = StorageSettings::new("b");
        settings.credentials = Some(StaticCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: SecretString::from("wJalrXUtnFEMI-very-secret"),
            session_token: Some(SecretString::from("session-very-secret")),
        });
        let printed = format!("{settings:?}");
        assert!(printed.contains("AKIDEXAMPLE"));
        assert!(!printed.contains("very-secret"), "{printed}");
    }

    #[test]
    fn content_types_match_by_essence_ignoring_case_and_parameters() {
        let settings = StorageSettings::new("b");
        assert!(settings.allows_content_type("application/pdf"));
        assert!(settings.allows_content_type("Text/Plain; charset=utf-8"));
        assert!(!settings.allows_content_type("application/x-msdownload"));
        assert!(!settings.allows_content_type("text/html"));
    }
}
