//! The service's handle on document content storage: the S3 client, its readiness check, its
//! metrics, and how a storage failure reaches the client (503 in the envelope, never a 500).

use std::time::{Duration, Instant};

use haven_storage::{Storage, StorageError};
use tokio::sync::Mutex;

use crate::error::{ApiError, codes};
use crate::readiness::Check;

/// Readiness asks the bucket at most this often per replica.
const PROBE_CACHE_FOR: Duration = Duration::from_secs(10);
/// Readiness waits this long for the bucket before calling it unavailable.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);
/// What a 503 STORAGE_002 asks the client to wait.
const RETRY_AFTER_SECONDS: u64 = 5;
/// What a 503 STORAGE_001 asks the client to wait: configuration changes take a deploy.
const NOT_CONFIGURED_RETRY_AFTER_SECONDS: u64 = 300;

pub const UPLOAD_URLS_METRIC: &str = "document_upload_urls_issued_total";
pub const COMPLETIONS_METRIC: &str = "document_upload_completions_total";
pub const DOWNLOAD_URLS_METRIC: &str = "document_download_urls_issued_total";

/// The S3 client and a per-replica cache of its readiness probe.
pub struct ContentStore {
    pub storage: Storage,
    probe: Mutex<Option<(Instant, Check)>>,
}

impl ContentStore {
    pub fn new(storage: Storage) -> Self {
        Self {
            storage,
            probe: Mutex::new(None),
        }
    }

    /// `ok` when a HEAD on the bucket succeeded within a second (cached 10 s, single flight).
    pub async fn check(&self) -> Check {
        let mut cache = self.probe.lock().await;
        if let Some((at, check)) = *cache
            && at.elapsed() < PROBE_CACHE_FOR
        {
            return check;
        }
        let check = match tokio::time::timeout(PROBE_TIMEOUT, self.storage.probe()).await {
            Ok(Ok(())) => Check::Ok,
            Ok(Err(error)) => {
                tracing::warn!(error = %error, "readiness: storage check failed");
                Check::Unavailable
            }
            Err(_) => {
                tracing::warn!("readiness: storage check timed out");
                Check::Unavailable
            }
        };
        *cache = Some((Instant::now(), check));
        check
    }
}

/// 503 STORAGE_001: STORAGE_BUCKET is not set on this deployment.
pub fn not_configured() -> ApiError {
    ApiError::new(codes::STORAGE_001).with_retry_after(NOT_CONFIGURED_RETRY_AFTER_SECONDS)
}

impl From<StorageError> for ApiError {
    /// Every storage failure is the client's 503 STORAGE_002 with Retry-After; the cause
    /// (timeout, 5xx, or a refusal such as KMS access denied, which pages an operator) is
    /// logged at error level by the envelope.
    fn from(error: StorageError) -> Self {
        ApiError::new(codes::STORAGE_002)
            .with_retry_after(RETRY_AFTER_SECONDS)
            .with_source(error)
    }
}

/// Descriptions for /metrics (called by `metrics::install`).
pub fn describe_metrics() {
    use metrics::describe_counter;
    describe_counter!(UPLOAD_URLS_METRIC, "Presigned upload URLs issued");
    describe_counter!(
        COMPLETIONS_METRIC,
        "Upload completions, by outcome (ready, failed, missing, replayed)"
    );
    describe_counter!(DOWNLOAD_URLS_METRIC, "Presigned download URLs issued");
}

pub fn upload_url_issued() {
    metrics::counter!(UPLOAD_URLS_METRIC).increment(1);
}

/// `outcome`: one of a fixed set (`ready`, `failed`, `missing`, `replayed`).
pub fn completion(outcome: &'static str) {
    metrics::counter!(COMPLETIONS_METRIC, "outcome" => outcome).increment(1);
}

pub fn download_url_issued() {
    metrics::counter!(DOWNLOAD_URLS_METRIC).increment(1);
}
