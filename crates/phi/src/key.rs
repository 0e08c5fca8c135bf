//! Plaintext data keys in memory, and the per-tenant handle the db layer encrypts with.

use std::collections::BTreeMap;
use std::fmt;

use aws_lc_rs::hmac;
use haven_db::ids::TenantId;
use zeroize::Zeroizing;

use crate::blind::{self, BlindIndexKind};
use crate::error::PhiError;
use crate::field::{Field, associated_data};
use crate::format::{self, FORMAT_ENCRYPTED, FORMAT_LEGACY_PLAINTEXT};

/// A 256-bit plaintext data key. Zeroized when dropped; `Debug` shows nothing of it.
pub(crate) struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// Takes the key bytes out of `bytes` (which is zeroized here in every case).
    pub(crate) fn from_slice(mut bytes: Zeroizing<Vec<u8>>) -> Option<Self> {
        let key: [u8; 32] = bytes.as_slice().try_into().ok()?;
        let key = Self(Zeroizing::new(key));
        bytes.iter_mut().for_each(|b| *b = 0);
        Some(key)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([REDACTED])")
    }
}

/// A tenant's usable keys: the active version for new writes, every readable version, and the
/// blind-index keys. Obtained from [`crate::Phi::tenant_keys`]; cheap to clone (shared). The
/// plaintext keys are zeroized when the last handle and the cache entry are gone.
#[derive(Clone)]
pub struct TenantKeys(pub(crate) std::sync::Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) tenant: TenantId,
    pub(crate) active: u32,
    pub(crate) versions: BTreeMap<u32, DataKey>,
    pub(crate) blind: [hmac::Key; 3],
}

impl fmt::Debug for TenantKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantKeys")
            .field("tenant", &self.0.tenant)
            .field("active_version", &self.0.active)
            .field("versions", &self.0.versions.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl TenantKeys {
    pub(crate) fn new(
        tenant: TenantId,
        active: u32,
        versions: BTreeMap<u32, DataKey>,
        blind_root: &DataKey,
    ) -> Self {
        let derive = |kind| blind::derive_key(blind_root.bytes(), tenant, kind);
        Self(std::sync::Arc::new(Inner {
            tenant,
            active,
            versions,
            blind: [
                derive(BlindIndexKind::Mrn),
                derive(BlindIndexKind::FamilyName),
                derive(BlindIndexKind::BirthDate),
            ],
        }))
    }

    pub fn tenant(&self) -> TenantId {
        self.0.tenant
    }

    /// The key version new writes use.
    pub fn active_version(&self) -> u32 {
        self.0.active
    }

    /// Encrypts one field value under the active version, bound to its place (see `Field`).
    pub fn encrypt_field(&self, field: Field<'_>, plaintext: &[u8]) -> Vec<u8> {
        let version = self.0.active;
        let key = &self.0.versions[&version];
        let ad = associated_data(self.0.tenant, &field, FORMAT_ENCRYPTED, version);
        format::seal(key.bytes(), version, &ad, plaintext)
    }

    /// Decrypts one stored value read from `field`. A legacy plaintext value (format 0x00) is
    /// returned as stored only when `accept_plaintext` (until `haven phi encrypt-existing` has
    /// converted every row). Anything else that does not authenticate is [`PhiError::Integrity`].
    pub fn decrypt_field(
        &self,
        field: Field<'_>,
        stored: &[u8],
        accept_plaintext: bool,
    ) -> Result<Vec<u8>, PhiError> {
        let integrity = || PhiError::integrity(field.table, field.column, field.row_id);
        match format::format_of(stored) {
            Some(FORMAT_LEGACY_PLAINTEXT) if accept_plaintext => Ok(stored[1..].to_vec()),
            Some(FORMAT_ENCRYPTED) => {
                let version = format::key_version_of(stored).ok_or_else(integrity)?;
                let key = self.0.versions.get(&version).ok_or_else(|| {
                    tracing::error!(
                        error_code = "PHI_001",
                        table = field.table,
                        column = field.column,
                        row_id = %field.row_id,
                        version,
                        "a PHI ciphertext names a key version this tenant does not have"
                    );
                    PhiError::UnknownKeyVersion {
                        table: field.table.to_owned(),
                        column: field.column.to_owned(),
                        row_id: field.row_id,
                        version,
                    }
                })?;
                let ad = associated_data(self.0.tenant, &field, FORMAT_ENCRYPTED, version);
                format::open(key.bytes(), &ad, stored).ok_or_else(integrity)
            }
            _ => Err(integrity()),
        }
    }

    /// The blind index of `value` (see [`crate::normalise`]); `None` when it does not normalise.
    pub fn blind_index(&self, kind: BlindIndexKind, value: &str) -> Option<Vec<u8>> {
        let key = match kind {
            BlindIndexKind::Mrn => &self.0.blind[0],
            BlindIndexKind::FamilyName => &self.0.blind[1],
            BlindIndexKind::BirthDate => &self.0.blind[2],
        };
        blind::normalise(kind, value).map(|normal| blind::compute(key, &normal))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use uuid::Uuid;

    pub(crate) fn key(byte: u8) -> DataKey {
        DataKey(Zeroizing::new([byte; 32]))
    }

    pub(crate) fn keys(tenant: u128, versions: &[u32], active: u32) -> TenantKeys {
        let map = versions.iter().map(|v| (*v, key(*v as u8))).collect();
        TenantKeys::new(
            TenantId::from_uuid(Uuid::from_u128(tenant)),
            active,
            map,
            &key(0xb1),
        )
    }

    #[test]
    fn debug_output_never_shows_key_material() {
        let handle = keys(1, &[1, 2], 2);
        let rendered = format!("{handle:?} {:?}", key(0xab));
        assert!(rendered.contains("REDACTED"), "{rendered}");
        for needle in ["171", "0xab", "ab, ab", "[1, 1", "177"] {
            assert!(!rendered.contains(needle), "{needle} in {rendered}");
        }
        assert!(rendered.contains("active_version: 2"), "{rendered}");
    }

    #[test]
    fn a_field_round_trips_and_fails_in_any_other_place() {
        let handle = keys(1, &[1], 1);
        let row = Uuid::from_u128(10);
        let field = Field::new("patients", "family_name", row);
        let stored = handle.encrypt_field(field, b"Nightingale");
        assert_eq!(
            handle.decrypt_field(field, &stored, false).unwrap(),
            b"Nightingale"
        );
        for other in [
            Field::new("patients", "given_name", row),
            Field::new("documents", "family_name", row),
            Field::new("patients", "family_name", Uuid::from_u128(11)),
        ] {
            let error = handle.decrypt_field(other, &stored, false).unwrap_err();
            assert!(matches!(error, PhiError::Integrity { .. }), "{error:?}");
        }
        let other_tenant = keys(2, &[1], 1);
        let error = other_tenant
            .decrypt_field(field, &stored, false)
            .unwrap_err();
        assert!(matches!(error, PhiError::Integrity { .. }), "{error:?}");
    }

    #[test]
    fn older_versions_stay_readable_and_legacy_plaintext_only_when_accepted() {
        let field = Field::new("t", "c", Uuid::from_u128(5));
        let old = keys(1, &[1], 1).encrypt_field(field, b"v1 value");
        let rotated = keys(1, &[1, 2], 2);
        assert_eq!(
            rotated.decrypt_field(field, &old, false).unwrap(),
            b"v1 value"
        );
        assert_eq!(
            format::key_version_of(&rotated.encrypt_field(field, b"x")),
            Some(2)
        );
        let retired = keys(1, &[2], 2);
        assert!(matches!(
            retired.decrypt_field(field, &old, false),
            Err(PhiError::UnknownKeyVersion { version: 1, .. })
        ));
        let legacy = b"\x00plain value";
        assert_eq!(
            rotated.decrypt_field(field, legacy, true).unwrap(),
            b"plain value"
        );
        assert!(matches!(
            rotated.decrypt_field(field, legacy, false),
            Err(PhiError::Integrity { .. })
        ));
    }

    #[test]
    fn blind_indexes_match_equal_normal_forms_only() {
        let handle = keys(1, &[1, 2], 2);
        let a = handle
            .blind_index(BlindIndexKind::FamilyName, "Curie")
            .unwrap();
        assert_eq!(
            Some(a.clone()),
            handle.blind_index(BlindIndexKind::FamilyName, "CURIE")
        );
        assert_ne!(
            Some(a.clone()),
            handle.blind_index(BlindIndexKind::FamilyName, "Curia")
        );
        // Rotating the encryption keys leaves the blind index unchanged.
        assert_eq!(
            Some(a),
            keys(1, &[1], 1).blind_index(BlindIndexKind::FamilyName, "curie")
        );
        assert_eq!(
            handle.blind_index(BlindIndexKind::BirthDate, "not a date"),
            None
        );
    }
}
