//! What can go wrong talking to the object store, classified for the caller.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};

/// A storage call that failed. The source is for the log; callers answer by variant.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The store (or KMS behind it) could not be reached, timed out, or answered 5xx; retrying
    /// later may work.
    #[error("object storage is unavailable: {0}")]
    Unavailable(String),
    /// The store refused us (credentials, bucket or key policy): an operator must act.
    #[error("object storage refused the request: {0}")]
    Denied(String),
    /// A URL could not be presigned (credentials missing, an invalid lifetime).
    #[error("cannot presign: {0}")]
    Presign(String),
}

impl StorageError {
    /// Classifies an SDK error: 403 is a refusal; everything else (timeouts, dispatch
    /// failures, 5xx, throttling) is an outage.
    pub(crate) fn from_sdk<E>(error: &SdkError<E, HttpResponse>) -> Self
    where
        E: std::error::Error + 'static,
    {
        let text = DisplayErrorContext(error).to_string();
        match error.raw_response().map(|r| r.status().as_u16()) {
            Some(403) => StorageError::Denied(text),
            _ => StorageError::Unavailable(text),
        }
    }
}
