//! `Phi`: the process's key wrapper and key cache, the handle lookup the db layer calls, and
//! the owner operations behind `haven tenants rotate-key|shred`.

use std::collections::BTreeMap;

use haven_db::PgPool;
use haven_db::ids::TenantId;
use haven_db::invalidation::Invalidation;
use haven_db::tenant::TenantTx;
use haven_db::tenant_keys::{self, KeyRefusal, TenantKeyRow};
use secrecy::SecretString;

use crate::breaker::Breaker;
use crate::cache::KeyCache;
use crate::error::PhiError;
use crate::key::{DataKey, TenantKeys};
use crate::settings::{PhiMode, PhiSettings, decode_master_key};
use crate::wrap::{KeyWrapper, KmsWrapper, LocalWrapper};

const ENCRYPTION: &str = "encryption";
const BLIND_INDEX: &str = "blind_index";

/// Field encryption for one process: share it (`Arc<Phi>`) between requests.
pub struct Phi {
    wrapper: KeyWrapper,
    cache: KeyCache,
    breaker: Breaker,
    settings: PhiSettings,
}

impl std::fmt::Debug for Phi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phi")
            .field("wrapper", &self.wrapper)
            .field("cached_tenants", &self.cache.len())
            .finish_non_exhaustive()
    }
}

/// Result of `rotate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateOutcome {
    Rotated { version: u32 },
    Shredded,
    NoTenant,
}

/// Result of `shred`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShredOutcome {
    Shredded { versions_destroyed: u64 },
    NotSuspended,
    AlreadyShredded,
    NoTenant,
}

/// One stored key version, for `haven tenants keys`-style listings (never key material).
pub type KeyStatus = TenantKeyRow;

impl Phi {
    /// The configured wrapper; `None` when PHI_ENCRYPTION is off. In local mode the master key
    /// comes from the environment or else from `secret_master_key` (the Secrets Manager key
    /// PHI_LOCAL_MASTER_KEY).
    pub async fn from_settings(
        settings: &PhiSettings,
        secret_master_key: Option<&SecretString>,
    ) -> Result<Option<Self>, PhiError> {
        let wrapper = match &settings.mode {
            PhiMode::Off => return Ok(None),
            PhiMode::Kms { key_id } => KeyWrapper::Kms(
                KmsWrapper::new(
                    key_id.clone(),
                    settings.region.clone(),
                    settings.kms_timeout,
                )
                .await,
            ),
            PhiMode::Local { master_key } => {
                let key = master_key
                    .as_ref()
                    .or(secret_master_key)
                    .and_then(decode_master_key)
                    .and_then(DataKey::from_slice)
                    .ok_or_else(|| {
                        PhiError::Misconfigured(
                            "PHI_LOCAL_MASTER_KEY (environment or secret) must be 32 bytes in \
                             standard base64"
                                .to_owned(),
                        )
                    })?;
                KeyWrapper::Local(LocalWrapper::new(key))
            }
        };
        Ok(Some(Self::new(wrapper, settings.clone())))
    }

    /// KMS through a client the caller built (tests point one at moto, or at a closed port).
    pub fn with_kms_client(
        client: aws_sdk_kms::Client,
        key_id: String,
        settings: PhiSettings,
    ) -> Self {
        Self::new(
            KeyWrapper::Kms(KmsWrapper::from_client(client, key_id)),
            settings,
        )
    }

    fn new(wrapper: KeyWrapper, settings: PhiSettings) -> Self {
        Self {
            wrapper,
            cache: KeyCache::new(settings.cache_ttl, settings.cache_max_tenants),
            breaker: Breaker::default(),
            settings,
        }
    }

    pub fn settings(&self) -> &PhiSettings {
        &self.settings
    }

    /// Whether legacy plaintext values (format 0x00) are still read (PHI_ACCEPT_LEGACY_PLAINTEXT).
    pub fn accept_legacy_plaintext(&self) -> bool {
        self.settings.accept_legacy_plaintext
    }

    /// The transaction's tenant's keys: from the cache, else read through `tx` and unwrapped
    /// (KMS `Decrypt`), creating the tenant's first keys if it has none (KMS `GenerateDataKeyWithoutPlaintext`,
    /// stored in `tx`; such keys are cached only once a later transaction reads them back, so a
    /// rollback can never leave a cached key that is not stored).
    pub async fn tenant_keys(&self, tx: &mut TenantTx<'_>) -> Result<TenantKeys, PhiError> {
        let tenant = tx.tenant();
        if let Some(keys) = self.cache.get(tenant) {
            metrics::counter!("phi_key_cache_total", "result" => "hit").increment(1);
            return Ok(keys);
        }
        let _loading = self.cache.load_lock(tenant).await;
        if let Some(keys) = self.cache.get(tenant) {
            return Ok(keys);
        }
        metrics::counter!("phi_key_cache_total", "result" => "miss").increment(1);
        self.breaker.check()?;
        let loaded = self.load(tenant, tx).await;
        self.breaker.record(&loaded);
        let (keys, created) = loaded?;
        if !created {
            self.cache.insert(keys.clone());
        }
        Ok(keys)
    }

    /// Reads, creates if missing, and unwraps the tenant's keys; `true` when created here.
    async fn load(
        &self,
        tenant: TenantId,
        tx: &mut TenantTx<'_>,
    ) -> Result<(TenantKeys, bool), PhiError> {
        let mut rows = tenant_keys::list(tx).await?;
        let mut created = false;
        for purpose in [ENCRYPTION, BLIND_INDEX] {
            refuse_shredded(tenant, &rows)?;
            if active(&rows, purpose).is_none() {
                let new = self.wrapper.generate(tenant).await?;
                tenant_keys::insert_first(tx, purpose, &new, &self.wrapper.wrapped_by()).await?;
                created = true;
            }
        }
        if created {
            rows = tenant_keys::list(tx).await?;
        }
        Ok((self.unwrap_rows(tenant, &rows).await?, created))
    }

    async fn unwrap_rows(
        &self,
        tenant: TenantId,
        rows: &[TenantKeyRow],
    ) -> Result<TenantKeys, PhiError> {
        refuse_shredded(tenant, rows)?;
        let missing = || PhiError::Misconfigured(format!("tenant {tenant} has no active key"));
        let active_version = active(rows, ENCRYPTION).ok_or_else(missing)?.version;
        let mut versions = BTreeMap::new();
        for row in rows.iter().filter(|r| r.purpose == ENCRYPTION) {
            if let Some(wrapped) = &row.wrapped_key {
                let key = self
                    .wrapper
                    .unwrap(tenant, &row.wrapped_by, wrapped)
                    .await?;
                versions.insert(row.version as u32, key);
            }
        }
        let blind_row = active(rows, BLIND_INDEX).ok_or_else(missing)?;
        let wrapped = blind_row.wrapped_key.as_deref().ok_or_else(missing)?;
        let blind_root = self
            .wrapper
            .unwrap(tenant, &blind_row.wrapped_by, wrapped)
            .await?;
        Ok(TenantKeys::new(
            tenant,
            active_version as u32,
            versions,
            &blind_root,
        ))
    }

    /// Drops the tenant's cached keys in this process (zeroized once no request holds them).
    /// The cluster-wide NOTIFY listener calls this through [`Phi::invalidate`].
    pub fn evict_tenant(&self, tenant: TenantId) -> bool {
        self.cache.evict(tenant)
    }

    /// Applies a cluster-wide invalidation (`haven_db::invalidation`): a rotated or shredded
    /// tenant's keys leave this process's cache; other kinds concern other caches.
    pub fn invalidate(&self, invalidation: &Invalidation) {
        let tenant = match invalidation {
            Invalidation::KeyShredded { tenant_id } | Invalidation::KeyRotated { tenant_id } => {
                *tenant_id
            }
            _ => return,
        };
        if self.evict_tenant(tenant) {
            tracing::info!(tenant_id = %tenant, ?invalidation, "tenant keys evicted");
        }
    }

    /// Drops every cached key (the invalidation listener reconnected: messages may be lost).
    pub fn clear_cache(&self) {
        self.cache.clear();
    }

    /// A new encryption key version for new writes (the old one stays readable until
    /// `reencrypt` has moved every row off it). Creates the blind-index key if missing.
    pub async fn rotate(&self, pool: &PgPool, tenant: TenantId) -> Result<RotateOutcome, PhiError> {
        let new = self.wrapper.generate(tenant).await?;
        let by = self.wrapper.wrapped_by();
        let version = match tenant_keys::admin_rotate(pool, tenant, &new, &by).await? {
            Ok(version) => version,
            Err(KeyRefusal::Shredded) => return Ok(RotateOutcome::Shredded),
            Err(_) => return Ok(RotateOutcome::NoTenant),
        };
        let rows = tenant_keys::admin_list(pool, tenant).await?;
        if active(&rows, BLIND_INDEX).is_none() {
            let blind = self.wrapper.generate(tenant).await?;
            if let Err(KeyRefusal::Shredded) =
                tenant_keys::admin_insert_first(pool, tenant, BLIND_INDEX, &blind, &by).await?
            {
                return Ok(RotateOutcome::Shredded);
            }
        }
        self.evict_tenant(tenant);
        Ok(RotateOutcome::Rotated {
            version: version as u32,
        })
    }

    /// Crypto-shreds a suspended tenant: its wrapped keys are erased, the final audit event is
    /// written and every replica is told to evict (one transaction), then this process evicts.
    pub async fn shred(&self, pool: &PgPool, tenant: TenantId) -> Result<ShredOutcome, PhiError> {
        let outcome = match tenant_keys::admin_shred(pool, tenant).await? {
            Ok(destroyed) => ShredOutcome::Shredded {
                versions_destroyed: destroyed,
            },
            Err(KeyRefusal::NotSuspended) => ShredOutcome::NotSuspended,
            Err(KeyRefusal::Shredded) => ShredOutcome::AlreadyShredded,
            Err(KeyRefusal::NoTenant) => ShredOutcome::NoTenant,
        };
        self.evict_tenant(tenant);
        Ok(outcome)
    }

    /// The tenant's key versions (metadata only), for operators.
    pub async fn key_status(
        &self,
        pool: &PgPool,
        tenant: TenantId,
    ) -> Result<Vec<KeyStatus>, PhiError> {
        Ok(tenant_keys::admin_list(pool, tenant).await?)
    }
}

fn active<'a>(rows: &'a [TenantKeyRow], purpose: &str) -> Option<&'a TenantKeyRow> {
    rows.iter()
        .find(|r| r.purpose == purpose && r.state == "active")
}

fn refuse_shredded(tenant: TenantId, rows: &[TenantKeyRow]) -> Result<(), PhiError> {
    if rows.iter().any(|r| r.state == "shredded") {
        return Err(PhiError::TenantShredded(tenant));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)], has_secret: bool) -> PhiSettings {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        PhiSettings::from_vars(&vars, false, has_secret).unwrap()
    }

    #[tokio::test]
    async fn local_mode_takes_the_master_key_from_the_environment_or_else_the_secret() {
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        assert!(
            Phi::from_settings(&settings(&[], false), None)
                .await
                .unwrap()
                .is_none()
        );
        let from_env = settings(
            &[("PHI_ENCRYPTION", "local"), ("PHI_LOCAL_MASTER_KEY", key)],
            false,
        );
        let phi = Phi::from_settings(&from_env, None).await.unwrap().unwrap();
        assert_eq!(phi.wrapper.wrapped_by(), "local");
        let from_secret = settings(&[("PHI_ENCRYPTION", "local")], true);
        let secret = SecretString::from(key.to_owned());
        assert!(
            Phi::from_settings(&from_secret, Some(&secret))
                .await
                .unwrap()
                .is_some()
        );
        assert!(matches!(
            Phi::from_settings(&from_secret, None).await,
            Err(PhiError::Misconfigured(_))
        ));
        assert!(!format!("{phi:?}").contains(key));
    }
}
