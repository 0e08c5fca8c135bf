//! [`TenantFields`]: the [`FieldCipher`] a request's query functions use — the tenant's keys,
//! or, with PHI_ENCRYPTION off, the legacy plaintext form (format 0x00) that
//! `haven phi encrypt-existing` later converts.

use haven_db::fields::{BlindIndexKind, Field, FieldCipher};
use haven_db::tenant::TenantTx;

use crate::blind::normalise;
use crate::error::PhiError;
use crate::format::{FORMAT_ENCRYPTED, FORMAT_LEGACY_PLAINTEXT, format_of};
use crate::key::TenantKeys;
use crate::phi::Phi;

/// Field encryption for one tenant transaction.
#[derive(Debug, Clone)]
pub enum TenantFields {
    /// The tenant's keys; `accept_legacy` reads (and looks up) values stored before encryption.
    Encrypted {
        keys: TenantKeys,
        accept_legacy: bool,
    },
    /// PHI_ENCRYPTION=off: values and indexes in the plaintext form.
    Plaintext,
}

/// The field cipher for `tx`'s tenant: its keys (cached, else unwrapped; created on first use)
/// when `phi` is configured, the plaintext form otherwise.
pub async fn tenant_fields(
    phi: Option<&Phi>,
    tx: &mut TenantTx<'_>,
) -> Result<TenantFields, PhiError> {
    Ok(match phi {
        Some(phi) => TenantFields::Encrypted {
            keys: phi.tenant_keys(tx).await?,
            accept_legacy: phi.accept_legacy_plaintext(),
        },
        None => TenantFields::Plaintext,
    })
}

/// The plaintext form of a blind index: the format byte 0x00, then the normal form. (A keyed
/// index is a 32-byte HMAC; the two never collide in practice.)
fn plain_index(kind: BlindIndexKind, value: &str) -> Option<Vec<u8>> {
    normalise(kind, value).map(|normal| {
        let mut index = vec![FORMAT_LEGACY_PLAINTEXT];
        index.extend_from_slice(normal.as_bytes());
        index
    })
}

impl FieldCipher for TenantFields {
    fn seal(&self, field: Field<'_>, plaintext: &[u8]) -> Vec<u8> {
        match self {
            Self::Encrypted { keys, .. } => keys.encrypt_field(field, plaintext),
            Self::Plaintext => {
                let mut stored = Vec::with_capacity(plaintext.len() + 1);
                stored.push(FORMAT_LEGACY_PLAINTEXT);
                stored.extend_from_slice(plaintext);
                stored
            }
        }
    }

    fn open(
        &self,
        field: Field<'_>,
        stored: &[u8],
    ) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
        let result = match self {
            Self::Encrypted {
                keys,
                accept_legacy,
            } => keys.decrypt_field(field, stored, *accept_legacy),
            Self::Plaintext => match format_of(stored) {
                Some(FORMAT_LEGACY_PLAINTEXT) => Ok(stored[1..].to_vec()),
                Some(FORMAT_ENCRYPTED) => Err(PhiError::Misconfigured(format!(
                    "{}.{} of row {} is encrypted but PHI_ENCRYPTION is off",
                    field.table, field.column, field.row_id
                ))),
                _ => Err(PhiError::integrity(field.table, field.column, field.row_id)),
            },
        };
        result.map_err(Into::into)
    }

    fn blind_index(&self, kind: BlindIndexKind, value: &str) -> Option<Vec<u8>> {
        match self {
            Self::Encrypted { keys, .. } => keys.blind_index(kind, value),
            Self::Plaintext => plain_index(kind, value),
        }
    }

    fn blind_lookups(&self, kind: BlindIndexKind, value: &str) -> Vec<Vec<u8>> {
        let mut lookups: Vec<Vec<u8>> = self.blind_index(kind, value).into_iter().collect();
        if let Self::Encrypted {
            accept_legacy: true,
            ..
        } = self
        {
            lookups.extend(plain_index(kind, value));
        }
        lookups
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::tests::keys;
    use uuid::Uuid;

    #[test]
    fn plaintext_mode_writes_the_legacy_form_that_encrypted_mode_still_reads_and_finds() {
        let field = Field::new("patients", "family_name", Uuid::from_u128(7));
        let stored = TenantFields::Plaintext.seal(field, b"Curie");
        assert_eq!(stored, b"\x00Curie");
        let plain_index = TenantFields::Plaintext
            .blind_index(BlindIndexKind::FamilyName, "Curie")
            .unwrap();
        let encrypted = TenantFields::Encrypted {
            keys: keys(1, &[1], 1),
            accept_legacy: true,
        };
        assert_eq!(encrypted.open(field, &stored).unwrap(), b"Curie");
        let lookups = encrypted.blind_lookups(BlindIndexKind::FamilyName, "CURIE");
        assert_eq!(lookups.len(), 2);
        assert!(lookups.contains(&plain_index));
        let strict = TenantFields::Encrypted {
            keys: keys(1, &[1], 1),
            accept_legacy: false,
        };
        assert!(strict.open(field, &stored).is_err());
        assert_eq!(
            strict
                .blind_lookups(BlindIndexKind::FamilyName, "Curie")
                .len(),
            1
        );
        let sealed = strict.seal(field, b"Curie");
        let error = TenantFields::Plaintext.open(field, &sealed).unwrap_err();
        assert!(
            error.to_string().contains("PHI_ENCRYPTION is off"),
            "{error}"
        );
    }
}
