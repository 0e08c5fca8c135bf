//! Blind indexes: a keyed HMAC-SHA256 of a normalised value, for exact-match search and
//! uniqueness on encrypted columns. They reveal equality (two rows with the same value have the
//! same index within one tenant), nothing else; across tenants the same value differs.

use aws_lc_rs::{hkdf, hmac};
use haven_db::ids::TenantId;

pub use haven_db::fields::BlindIndexKind;

fn label(kind: BlindIndexKind) -> &'static [u8] {
    match kind {
        BlindIndexKind::Mrn => b"mrn",
        BlindIndexKind::FamilyName => b"family_name",
        BlindIndexKind::BirthDate => b"birth_date",
    }
}

/// The normal form a blind index is computed over; `None` when the value cannot be normalised
/// (blank, or not a calendar date for `BirthDate`): the caller's validation refuses it first.
pub fn normalise(kind: BlindIndexKind, value: &str) -> Option<String> {
    if value.trim().is_empty() {
        return None;
    }
    match kind {
        // Exactly as given: an mrn matches only itself (as before encryption).
        BlindIndexKind::Mrn => Some(value.to_owned()),
        // Case-insensitive, nothing else (as `lower(family_name) = lower($1)` was).
        BlindIndexKind::FamilyName => Some(value.to_lowercase()),
        BlindIndexKind::BirthDate => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(value.trim(), &format)
                .ok()
                .and_then(|date| date.format(&format).ok())
        }
    }
}

const HKDF_SALT: &[u8] = b"haven-phi/blind-index/v1";

/// HKDF-SHA256 from the tenant's blind-index root key to one HMAC key per kind; the tenant id
/// is in the info, so equal roots (never expected) would still give different keys.
pub(crate) fn derive_key(root: &[u8; 32], tenant: TenantId, kind: BlindIndexKind) -> hmac::Key {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(root);
    let tenant_bytes = tenant.as_uuid();
    let info = [tenant_bytes.as_bytes().as_slice(), label(kind)];
    let okm = prk
        .expand(&info, hmac::HMAC_SHA256)
        .expect("32 bytes is within HKDF-SHA256's output limit");
    hmac::Key::from(okm)
}

pub(crate) fn compute(key: &hmac::Key, normalised: &str) -> Vec<u8> {
    hmac::sign(key, normalised.as_bytes()).as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_normalised_per_kind() {
        use BlindIndexKind::*;
        assert_eq!(
            normalise(FamilyName, "O'Brien Smith"),
            Some("o'brien smith".into())
        );
        assert_ne!(
            normalise(FamilyName, "Smith "),
            normalise(FamilyName, "Smith")
        );
        assert_eq!(
            normalise(FamilyName, "MÜLLER"),
            normalise(FamilyName, "müller")
        );
        assert_eq!(normalise(Mrn, "AB-12 34"), Some("AB-12 34".into()));
        assert_eq!(
            normalise(BirthDate, "1984-02-29"),
            Some("1984-02-29".into())
        );
        assert_eq!(normalise(BirthDate, "1985-02-29"), None);
        assert_eq!(normalise(BirthDate, "29/02/1984"), None);
        assert_eq!(normalise(Mrn, "   "), None);
    }

    #[test]
    fn indexes_depend_on_kind_tenant_and_root() {
        let root = [9u8; 32];
        let a = TenantId::from_uuid(uuid::Uuid::from_u128(1));
        let b = TenantId::from_uuid(uuid::Uuid::from_u128(2));
        let index = |root: &[u8; 32], tenant, kind| compute(&derive_key(root, tenant, kind), "x");
        let base = index(&root, a, BlindIndexKind::Mrn);
        assert_eq!(base.len(), 32);
        assert_eq!(base, index(&root, a, BlindIndexKind::Mrn));
        assert_ne!(base, index(&root, b, BlindIndexKind::Mrn));
        assert_ne!(base, index(&root, a, BlindIndexKind::FamilyName));
        assert_ne!(base, index(&[8u8; 32], a, BlindIndexKind::Mrn));
    }
}
