//! Object storage for document content: S3 or an S3-compatible store, SSE-KMS, presigned URLs.
//! No HTTP-server or database types here; the API decides who may touch which object.
#![forbid(unsafe_code)]

mod check;
mod client;
mod disposition;
mod error;
mod keys;
mod presign;
mod settings;
mod verify;

pub use check::{Finding, Severity};
pub use client::{ObjectFacts, PresignedDownload, PresignedUpload, Storage, UploadSpec};
pub use disposition::attachment;
pub use error::StorageError;
pub use keys::{encryption_context, object_key, tenant_prefix};
pub use settings::{
    DEFAULT_ALLOWED_CONTENT_TYPES, DEFAULT_DOWNLOAD_URL_TTL, DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_UPLOAD_URL_TTL, MAX_URL_TTL, StaticCredentials, StorageSettings,
};
pub use verify::{Expected, Mismatch, verify};
