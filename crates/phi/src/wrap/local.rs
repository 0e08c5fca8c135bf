//! The development wrapper: data keys wrapped with AES-256-GCM under a local master key.
//!
//! Not for production (refused there unless PHI_ALLOW_LOCAL_MASTER_KEY=true): the master key is
//! a value an operator can copy, nothing logs its use, it cannot be disabled or have its use
//! denied per tenant, and a copy of it plus a backup yields every tenant's PHI. KMS keys never
//! leave the HSM and every unwrap is an authorised, logged call.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use haven_db::ids::TenantId;
use zeroize::Zeroizing;

use super::data_key;
use crate::error::PhiError;
use crate::format;
use crate::key::DataKey;

#[derive(Clone)]
pub(crate) struct LocalWrapper {
    master: Arc<DataKey>,
}

impl fmt::Debug for LocalWrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalWrapper { master: [REDACTED] }")
    }
}

/// Associated data of a locally wrapped key: the tenant, like KMS's encryption context.
fn context(tenant: TenantId) -> Vec<u8> {
    let mut ad = b"haven-phi/local-wrap/v1".to_vec();
    ad.extend_from_slice(tenant.as_uuid().as_bytes());
    ad
}

impl LocalWrapper {
    pub(crate) fn new(master: DataKey) -> Self {
        Self {
            master: Arc::new(master),
        }
    }

    pub(crate) fn generate(&self, tenant: TenantId) -> Result<Vec<u8>, PhiError> {
        let mut bytes = Zeroizing::new(vec![0u8; 32]);
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| PhiError::unavailable("the system random generator failed"))?;
        let plaintext = data_key(bytes, "a generated key")?;
        Ok(format::seal(
            self.master.bytes(),
            0,
            &context(tenant),
            plaintext.bytes(),
        ))
    }

    pub(crate) fn unwrap(&self, tenant: TenantId, wrapped: &[u8]) -> Result<DataKey, PhiError> {
        let bytes = format::open(self.master.bytes(), &context(tenant), wrapped)
            .ok_or_else(|| PhiError::integrity("tenant_keys", "wrapped_key", tenant.as_uuid()))?;
        data_key(Zeroizing::new(bytes), "an unwrapped key")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn a_locally_wrapped_key_unwraps_for_its_tenant_only() {
        let master = DataKey::from_slice(Zeroizing::new(vec![3u8; 32])).unwrap();
        let wrapper = LocalWrapper::new(master);
        let a = TenantId::from_uuid(Uuid::from_u128(1));
        let b = TenantId::from_uuid(Uuid::from_u128(2));
        let wrapped = wrapper.generate(a).unwrap();
        let key = wrapper.unwrap(a, &wrapped).unwrap();
        assert_ne!(key.bytes(), &[0u8; 32]);
        assert!(
            !wrapped.windows(32).any(|w| w == key.bytes()),
            "stored only wrapped"
        );
        assert!(matches!(
            wrapper.unwrap(b, &wrapped),
            Err(PhiError::Integrity { .. })
        ));
        assert!(!format!("{wrapper:?}").contains("3, 3"));
    }
}
