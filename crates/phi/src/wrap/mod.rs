//! Wrapping and unwrapping data keys: AWS KMS in production, a local master key in development.

mod kms;
mod local;

use haven_db::ids::TenantId;
use zeroize::Zeroizing;

pub(crate) use kms::KmsWrapper;
pub(crate) use local::LocalWrapper;

use crate::error::PhiError;
use crate::key::DataKey;

/// The encryption context every KMS call carries (and the local wrapper binds as associated
/// data): a wrapped key of one tenant cannot be unwrapped as another's.
pub(crate) const CONTEXT_KEY: &str = "haven:tenant_id";

#[derive(Debug, Clone)]
pub(crate) enum KeyWrapper {
    Kms(KmsWrapper),
    Local(LocalWrapper),
}

impl KeyWrapper {
    /// What `tenant_keys.wrapped_by` records for keys this wrapper makes.
    pub(crate) fn wrapped_by(&self) -> String {
        match self {
            Self::Kms(kms) => format!("kms:{}", kms.key_id()),
            Self::Local(_) => "local".to_owned(),
        }
    }

    /// A new data key in wrapped form only (its plaintext is unwrapped when first used).
    pub(crate) async fn generate(&self, tenant: TenantId) -> Result<Vec<u8>, PhiError> {
        match self {
            Self::Kms(kms) => kms.generate(tenant).await,
            Self::Local(local) => local.generate(tenant),
        }
    }

    /// Unwraps a stored key. `wrapped_by` must name this wrapper's kind: a KMS-wrapped key is
    /// never handed to the local wrapper or the other way round.
    pub(crate) async fn unwrap(
        &self,
        tenant: TenantId,
        wrapped_by: &str,
        wrapped: &[u8],
    ) -> Result<DataKey, PhiError> {
        match (self, wrapped_by.starts_with("kms:")) {
            (Self::Kms(kms), true) => kms.unwrap(tenant, wrapped).await,
            (Self::Local(local), false) if wrapped_by == "local" => local.unwrap(tenant, wrapped),
            _ => Err(PhiError::Misconfigured(format!(
                "a key of tenant {tenant} is wrapped by {wrapped_by:?} but this process uses {}",
                self.wrapped_by()
            ))),
        }
    }
}

pub(crate) fn data_key(bytes: Zeroizing<Vec<u8>>, what: &str) -> Result<DataKey, PhiError> {
    DataKey::from_slice(bytes)
        .ok_or_else(|| PhiError::Misconfigured(format!("{what} is not a 256-bit key")))
}
