//! AWS KMS envelope keys: `GenerateDataKeyWithoutPlaintext` for a new version, `Decrypt` to unwrap a stored one,
//! both with the tenant id as encryption context (KMS refuses a mismatched context).

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use haven_db::ids::TenantId;
use zeroize::Zeroizing;

use super::{CONTEXT_KEY, data_key};
use crate::error::PhiError;
use crate::key::DataKey;

/// The KMS client and the key (id, ARN or alias) data keys are generated under.
#[derive(Debug, Clone)]
pub(crate) struct KmsWrapper {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsWrapper {
    /// The same aws-config default chain as Secrets Manager: credentials, region (unless set)
    /// and endpoint (`AWS_ENDPOINT_URL_KMS`, then `AWS_ENDPOINT_URL`). Every call, connect and
    /// attempt included, ends within `timeout`; one retry for a transient failure.
    pub(crate) async fn new(key_id: String, region: Option<String>, timeout: Duration) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(timeout)
                    .operation_attempt_timeout(timeout)
                    .operation_timeout(timeout * 2)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(2));
        if let Some(region) = region {
            loader = loader.region(Region::new(region));
        }
        let config = loader.load().await;
        Self {
            client: aws_sdk_kms::Client::new(&config),
            key_id,
        }
    }

    /// A wrapper on an already built client (tests point a second one at a closed port).
    pub(crate) fn from_client(client: aws_sdk_kms::Client, key_id: String) -> Self {
        Self { client, key_id }
    }

    pub(crate) fn key_id(&self) -> &str {
        &self.key_id
    }

    /// `GenerateDataKeyWithoutPlaintext`: the new key leaves KMS only wrapped.
    pub(crate) async fn generate(&self, tenant: TenantId) -> Result<Vec<u8>, PhiError> {
        let output = self
            .client
            .generate_data_key_without_plaintext()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context(CONTEXT_KEY, tenant.to_string())
            .send()
            .await
            .map_err(|error| classify(tenant, "GenerateDataKeyWithoutPlaintext", error))?;
        output
            .ciphertext_blob()
            .map(|blob| blob.as_ref().to_vec())
            .ok_or_else(|| PhiError::unavailable("KMS returned no wrapped key"))
    }

    pub(crate) async fn unwrap(
        &self,
        tenant: TenantId,
        wrapped: &[u8],
    ) -> Result<DataKey, PhiError> {
        let output = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped.to_vec()))
            .encryption_context(CONTEXT_KEY, tenant.to_string())
            .send()
            .await
            .map_err(|error| classify(tenant, "Decrypt", error))?;
        let plaintext = output
            .plaintext()
            .map(|blob| Zeroizing::new(blob.as_ref().to_vec()))
            .ok_or_else(|| PhiError::unavailable("Decrypt returned no plaintext"))?;
        data_key(plaintext, "the KMS data key")
    }
}

/// A wrapped key KMS refuses as a ciphertext (tampered, another tenant's context, another key)
/// is an integrity failure; everything else (network, throttling, a disabled key, missing
/// permissions) is "unavailable": logged with its cause, answered 503, retried by the client.
fn classify<E, R>(tenant: TenantId, operation: &str, error: SdkError<E, R>) -> PhiError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = error
        .as_service_error()
        .and_then(|e| e.code())
        .unwrap_or("");
    if matches!(code, "InvalidCiphertextException" | "IncorrectKeyException") {
        return PhiError::integrity("tenant_keys", "wrapped_key", tenant.as_uuid());
    }
    let reason = format!("KMS {operation} failed: {}", DisplayErrorContext(&error));
    tracing::warn!(error_code = "PHI_002", tenant_id = %tenant, reason = %reason, "KMS call failed");
    PhiError::unavailable(reason)
}
