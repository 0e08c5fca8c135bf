//! The S3 client: presigned PUT and GET (local signing, no network), HEAD, DELETE, and a probe.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{Credentials, RequestChecksumCalculation};
use aws_sdk_s3::types::ChecksumMode;
use uuid::Uuid;

use crate::error::StorageError;
use crate::keys::{encryption_context, object_key};
use crate::presign::{Presigner, Unsigned};
use crate::settings::StorageSettings;

/// The bucket, through the SDK. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Storage {
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) settings: StorageSettings,
    presigner: Arc<Presigner>,
}

/// One document's upload: what the presigned PUT binds the client to.
#[derive(Debug, Clone, Copy)]
pub struct UploadSpec<'a> {
    pub tenant: Uuid,
    pub document: Uuid,
    pub content_type: &'a str,
    pub size_bytes: i64,
    /// Base64 SHA-256 of the bytes (`x-amz-checksum-sha256`).
    pub sha256: &'a str,
}

/// A presigned PUT and the exact headers it was signed with.
#[derive(Debug, Clone)]
pub struct PresignedUpload {
    pub url: String,
    /// Every signed header but `host`, lowercase names: the request must carry each unchanged.
    pub headers: Vec<(String, String)>,
    pub expires_in: Duration,
}

/// A presigned GET.
#[derive(Debug, Clone)]
pub struct PresignedDownload {
    pub url: String,
    pub expires_in: Duration,
}

/// What HEAD says about a stored object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectFacts {
    pub size_bytes: Option<i64>,
    pub content_type: Option<String>,
    /// Base64 SHA-256, when the store reports one.
    pub sha256: Option<String>,
    /// `aws:kms`, `AES256`, or `None` for an unencrypted object.
    pub encryption: Option<String>,
    pub kms_key_id: Option<String>,
}

impl Storage {
    /// Builds the client from aws-config's default chain, with what configuration read from
    /// the environment (region, endpoint, keys) taking precedence.
    pub async fn new(settings: StorageSettings) -> Storage {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &settings.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(keys) = &settings.credentials {
            use secrecy::ExposeSecret;
            loader = loader.credentials_provider(Credentials::new(
                keys.access_key_id.clone(),
                keys.secret_access_key.expose_secret().to_owned(),
                keys.session_token
                    .as_ref()
                    .map(|t| t.expose_secret().to_owned()),
                None,
                "haven-config",
            ));
        }
        Storage::from_sdk_config(&loader.load().await, settings)
    }

    /// Builds the client from a loaded `SdkConfig`; the settings' region and timeouts apply.
    pub fn from_sdk_config(sdk_config: &SdkConfig, settings: StorageSettings) -> Storage {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(settings.attempt_timeout)
            .operation_attempt_timeout(settings.attempt_timeout)
            .operation_timeout(settings.attempt_timeout * 2)
            .build();
        let mut builder = aws_sdk_s3::config::Builder::from(sdk_config)
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .force_path_style(settings.force_path_style)
            // Only the checksum we set ourselves: the SDK must not add a CRC of an empty body
            // to a presigned PUT.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired);
        if let Some(region) = &settings.region {
            builder = builder.region(Region::new(region.clone()));
        }
        let config = builder.build();
        Storage {
            presigner: Arc::new(Presigner::new(&config, sdk_config.credentials_provider())),
            s3: aws_sdk_s3::Client::from_conf(config),
            settings,
        }
    }

    pub fn settings(&self) -> &StorageSettings {
        &self.settings
    }

    /// A PUT URL for the document's object that S3 accepts only with this content type, length
    /// and SHA-256, encrypted with the configured KMS key under an encryption context naming
    /// the tenant and the document. Signed locally: no call to the store.
    pub async fn presign_upload(
        &self,
        spec: &UploadSpec<'_>,
    ) -> Result<PresignedUpload, StorageError> {
        self.presign_upload_at(spec, SystemTime::now()).await
    }

    async fn presign_upload_at(
        &self,
        spec: &UploadSpec<'_>,
        now: SystemTime,
    ) -> Result<PresignedUpload, StorageError> {
        let ttl = self.settings.upload_url_ttl;
        let key = object_key(spec.tenant, spec.document);
        // The headers in the order the SDK's serializer writes them.
        let mut headers = vec![
            ("content-length", Cow::Owned(spec.size_bytes.to_string())),
            ("content-type", Cow::Borrowed(spec.content_type)),
            ("x-amz-checksum-sha256", Cow::Borrowed(spec.sha256)),
        ];
        match &self.settings.kms_key_id {
            Some(kms_key) => headers.extend([
                ("x-amz-server-side-encryption", Cow::Borrowed("aws:kms")),
                (
                    "x-amz-server-side-encryption-aws-kms-key-id",
                    Cow::Borrowed(kms_key.as_str()),
                ),
                (
                    "x-amz-server-side-encryption-context",
                    Cow::Owned(encryption_context(spec.tenant, spec.document)),
                ),
            ]),
            None => headers.push(("x-amz-server-side-encryption", Cow::Borrowed("AES256"))),
        }
        let request = Unsigned {
            method: "PUT",
            key: &key,
            query: &[("x-id", "PutObject")],
            headers: &headers,
        };
        let base = self.presigner.base(&self.s3, &self.settings.bucket).await?;
        let (url, headers) = self.presigner.presign(base, &request, ttl, now).await?;
        Ok(PresignedUpload {
            url,
            headers,
            expires_in: ttl,
        })
    }

    /// A GET URL for the object that makes the browser save it as `disposition` with
    /// `content_type`. Signed locally: no call to the store.
    pub async fn presign_download(
        &self,
        key: &str,
        disposition: &str,
        content_type: &str,
    ) -> Result<PresignedDownload, StorageError> {
        self.presign_download_at(key, disposition, content_type, SystemTime::now())
            .await
    }

    async fn presign_download_at(
        &self,
        key: &str,
        disposition: &str,
        content_type: &str,
        now: SystemTime,
    ) -> Result<PresignedDownload, StorageError> {
        let ttl = self.settings.download_url_ttl;
        let request = Unsigned {
            method: "GET",
            key,
            query: &[
                ("x-id", "GetObject"),
                ("response-content-disposition", disposition),
                ("response-content-type", content_type),
            ],
            headers: &[],
        };
        let base = self.presigner.base(&self.s3, &self.settings.bucket).await?;
        let (url, _) = self.presigner.presign(base, &request, ttl, now).await?;
        Ok(PresignedDownload {
            url,
            expires_in: ttl,
        })
    }

    /// The object's facts, or `None` when there is no object under `key`.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectFacts>, StorageError> {
        let answer = self
            .s3
            .head_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await;
        match answer {
            Ok(head) => Ok(Some(ObjectFacts {
                size_bytes: head.content_length(),
                content_type: head.content_type().map(str::to_owned),
                sha256: head.checksum_sha256().map(str::to_owned),
                encryption: head.server_side_encryption().map(|e| e.as_str().to_owned()),
                kms_key_id: head.ssekms_key_id().map(str::to_owned),
            })),
            Err(error) if error.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(error) => Err(StorageError::from_sdk(&error)),
        }
    }

    /// Deletes the object; deleting a missing object succeeds (S3 semantics), so a retried
    /// delete is harmless.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.s3
            .delete_object()
            .bucket(&self.settings.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StorageError::from_sdk(&e))
    }

    /// Deletes every object whose key starts with `prefix` (a tenant's, when offboarding it),
    /// a listed page at a time; the number deleted. Rerunning after a failure finishes the job.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<u64, StorageError> {
        let mut deleted = 0;
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.settings.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| StorageError::from_sdk(&e))?;
            for object in page.contents() {
                if let Some(key) = object.key() {
                    self.delete(key).await?;
                    deleted += 1;
                }
            }
        }
        Ok(deleted)
    }

    /// One HEAD on the bucket: reachable and allowed. A single attempt: a probe answers for
    /// now, and the client's retry (a jittered backoff of up to a second) would only hold the
    /// readiness answer back.
    pub async fn probe(&self) -> Result<(), StorageError> {
        self.s3
            .head_bucket()
            .bucket(&self.settings.bucket)
            .customize()
            .config_override(aws_sdk_s3::Config::builder().retry_config(RetryConfig::disabled()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StorageError::from_sdk(&e))
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
