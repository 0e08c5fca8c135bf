//! The stored form of an encrypted field, and AES-256-GCM sealing and opening (aws-lc-rs).
//!
//! ```text
//! byte 0      format: 0x01 = AES-256-GCM v1 (0x00 = a legacy plaintext value, see below)
//! bytes 1..5  key version, big-endian u32 (the tenant's `tenant_keys.version`)
//! bytes 5..17 96-bit random nonce
//! bytes 17..  ciphertext followed by the 16-byte GCM tag
//! ```
//!
//! Format 0x00 marks a value written before encryption was turned on (a migration turns the
//! old text into `0x00 || utf8`); `haven phi encrypt-existing` converts those rows.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};

/// Format byte of an AES-256-GCM ciphertext (layout v1).
pub const FORMAT_ENCRYPTED: u8 = 0x01;
/// Format byte of a value stored before encryption (plaintext after the byte).
pub const FORMAT_LEGACY_PLAINTEXT: u8 = 0x00;

pub(crate) const HEADER_LEN: usize = 1 + 4 + NONCE_LEN;
pub(crate) const TAG_LEN: usize = 16;

/// The format byte of a stored value, `None` when empty.
pub fn format_of(stored: &[u8]) -> Option<u8> {
    stored.first().copied()
}

/// The key version an encrypted value names, `None` for anything that is not format 0x01.
pub fn key_version_of(stored: &[u8]) -> Option<u32> {
    if stored.len() < HEADER_LEN + TAG_LEN || stored[0] != FORMAT_ENCRYPTED {
        return None;
    }
    Some(u32::from_be_bytes([
        stored[1], stored[2], stored[3], stored[4],
    ]))
}

/// Seals `plaintext` under `key` with a fresh random nonce. `ad` must already include the
/// format byte and version (see `field::associated_data`).
pub(crate) fn seal(key: &[u8; 32], version: u32, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    // Infallible for a 32-byte key and any message below GCM's 64 GiB limit; the expect
    // documents that a failure here is a bug in this module, not a runtime condition.
    let sealing = RandomizedNonceKey::new(&AES_256_GCM, key).expect("a 32-byte AES-256 key");
    let mut in_out = plaintext.to_vec();
    let nonce = sealing
        .seal_in_place_append_tag(Aad::from(ad), &mut in_out)
        .expect("a field value is far below the GCM message limit");
    let mut stored = Vec::with_capacity(HEADER_LEN + in_out.len());
    stored.push(FORMAT_ENCRYPTED);
    stored.extend_from_slice(&version.to_be_bytes());
    stored.extend_from_slice(nonce.as_ref());
    stored.extend_from_slice(&in_out);
    stored
}

/// Opens a format-0x01 value. `None` when it is malformed or fails authentication (the two are
/// deliberately indistinguishable to the caller).
pub(crate) fn open(key: &[u8; 32], ad: &[u8], stored: &[u8]) -> Option<Vec<u8>> {
    key_version_of(stored)?;
    let nonce = Nonce::try_assume_unique_for_key(&stored[5..HEADER_LEN]).ok()?;
    let opening = RandomizedNonceKey::new(&AES_256_GCM, key).ok()?;
    let mut in_out = stored[HEADER_LEN..].to_vec();
    let plaintext = opening
        .open_in_place(nonce, Aad::from(ad), &mut in_out)
        .ok()?;
    Some(plaintext.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn a_sealed_value_opens_with_the_same_key_and_associated_data_only() {
        let stored = seal(&KEY, 3, b"ad", b"Ada Lovelace");
        assert_eq!(stored[0], FORMAT_ENCRYPTED);
        assert_eq!(key_version_of(&stored), Some(3));
        assert_eq!(stored.len(), HEADER_LEN + 12 + TAG_LEN);
        assert_eq!(
            open(&KEY, b"ad", &stored).as_deref(),
            Some(&b"Ada Lovelace"[..])
        );
        assert_eq!(open(&KEY, b"other ad", &stored), None);
        assert_eq!(open(&[8; 32], b"ad", &stored), None);
        let mut flipped = stored.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(open(&KEY, b"ad", &flipped), None);
        assert_eq!(open(&KEY, b"ad", &stored[..HEADER_LEN + 3]), None);
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        assert_ne!(seal(&KEY, 1, b"ad", b"x"), seal(&KEY, 1, b"ad", b"x"));
    }

    #[test]
    fn legacy_and_short_values_have_no_key_version() {
        assert_eq!(key_version_of(b"\x00plain"), None);
        assert_eq!(key_version_of(b""), None);
        assert_eq!(format_of(b"\x00plain"), Some(FORMAT_LEGACY_PLAINTEXT));
    }
}
