//! The sealed login state (what openidconnect leaves to the caller): the server keeps no
//! session, the `state` parameter carries the PKCE verifier, OIDC nonce and redirect URI
//! encrypted and authenticated.
//!
//! Sealing is AES-256-GCM (aws-lc-rs, already our TLS and JWT crypto) with a random 96-bit
//! nonce, so the verifier never appears in clear in a URL (a signed-only state would hand it to
//! anyone who sees the authorization request, defeating PKCE). The AEAD tag check is constant
//! time. The key is derived with HMAC-SHA256 from a secret of at least 32 bytes.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::error::AuthError;

/// How long a login may take between `/auth/login` and `/auth/callback`.
pub const STATE_TTL_SECS: i64 = 600;
const VERSION: u8 = 1;
const AAD: &[u8] = b"haven/oidc-login-state/v1";
/// A sealed state longer than this is not ours.
const MAX_SEALED_LEN: usize = 4096;

/// `bytes` random bytes, base64url without padding.
fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(buf.as_mut_slice());
    URL_SAFE_NO_PAD.encode(buf)
}

/// Key that seals and opens login states. `Debug` never shows it.
pub struct StateKey(SecretBox<[u8; 32]>);

impl std::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateKey([REDACTED])")
    }
}

/// The secret given for the state key is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the login state secret must be at least 32 bytes")]
pub struct StateKeyTooShort;

impl StateKey {
    /// Derives the key from a configured secret (≥ 32 bytes). Every instance of the service
    /// must use the same secret, or a callback landing on another instance fails.
    pub fn derive(secret: &SecretString) -> Result<Self, StateKeyTooShort> {
        let secret = secret.expose_secret().as_bytes();
        if secret.len() < 32 {
            return Err(StateKeyTooShort);
        }
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(secret).map_err(|_| StateKeyTooShort)?;
        mac.update(AAD);
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        Ok(Self(SecretBox::new(Box::new(key))))
    }

    /// A random key (single-instance development only: states die with the process).
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::fill(&mut key);
        Self(SecretBox::new(Box::new(key)))
    }

    fn aead(&self) -> Result<RandomizedNonceKey, AuthError> {
        RandomizedNonceKey::new(&AES_256_GCM, self.0.expose_secret())
            .map_err(|_| AuthError::Internal)
    }
}

/// What the callback needs from the login that started it.
pub struct StateData {
    /// PKCE verifier for the token request.
    pub verifier: SecretString,
    /// OIDC nonce the ID token must carry.
    pub nonce: String,
    /// The redirect URI used in the authorization request (must be repeated at the token
    /// endpoint).
    pub redirect_uri: String,
    /// Unix seconds after which the state is refused.
    pub expires_at: i64,
}

impl std::fmt::Debug for StateData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateData")
            .field("verifier", &"[REDACTED]")
            .field("nonce", &"[REDACTED]")
            .field("redirect_uri", &self.redirect_uri)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The sealed plaintext (short field names keep the URL short).
#[derive(Serialize, Deserialize)]
struct Sealed {
    v: String,
    n: String,
    r: String,
    e: i64,
    /// Random id: two logins never seal the same plaintext; usable for replay tracking.
    i: String,
}

/// Encrypts `data` into a URL-safe `state` value.
pub fn seal_state(data: &StateData, key: &StateKey) -> Result<String, AuthError> {
    let plain = Sealed {
        v: data.verifier.expose_secret().to_owned(),
        n: data.nonce.clone(),
        r: data.redirect_uri.clone(),
        e: data.expires_at,
        i: random_token(12),
    };
    let mut in_out = serde_json::to_vec(&plain).map_err(|_| AuthError::Internal)?;
    let nonce = key
        .aead()?
        .seal_in_place_append_tag(Aad::from(AAD), &mut in_out)
        .map_err(|_| AuthError::Internal)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
    out.push(VERSION);
    out.extend_from_slice(nonce.as_ref());
    out.extend_from_slice(&in_out);
    Ok(URL_SAFE_NO_PAD.encode(out))
}

/// Decrypts and checks a `state` value: any tampering, another key, an unknown version or an
/// expired state is `StateInvalid` (AUTH_002).
pub fn open_state(sealed: &str, key: &StateKey, now: i64) -> Result<StateData, AuthError> {
    if sealed.is_empty() || sealed.len() > MAX_SEALED_LEN {
        return Err(AuthError::StateInvalid);
    }
    let raw = URL_SAFE_NO_PAD
        .decode(sealed)
        .map_err(|_| AuthError::StateInvalid)?;
    let (version, rest) = raw.split_first().ok_or(AuthError::StateInvalid)?;
    if *version != VERSION || rest.len() < NONCE_LEN {
        return Err(AuthError::StateInvalid);
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| AuthError::StateInvalid)?;
    let mut in_out = ciphertext.to_vec();
    let plain = key
        .aead()?
        .open_in_place(nonce, Aad::from(AAD), &mut in_out)
        .map_err(|_| AuthError::StateInvalid)?;
    let sealed: Sealed = serde_json::from_slice(plain).map_err(|_| AuthError::StateInvalid)?;
    if now > sealed.e || sealed.e > now.saturating_add(STATE_TTL_SECS + 60) {
        return Err(AuthError::StateInvalid);
    }
    Ok(StateData {
        verifier: SecretString::from(sealed.v),
        nonce: sealed.n,
        redirect_uri: sealed.r,
        expires_at: sealed.e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn data() -> StateData {
        StateData {
            verifier: SecretString::from("v".repeat(43)),
            nonce: "nonce-1".into(),
            redirect_uri: "https://app.example.com/callback".into(),
            expires_at: NOW + STATE_TTL_SECS,
        }
    }

    fn key() -> StateKey {
        StateKey::derive(&SecretString::from("k".repeat(32))).expect("key")
    }

    #[test]
    fn sealed_state_round_trips_and_hides_the_verifier() {
        let sealed = seal_state(&data(), &key()).expect("seal");
        assert!(!sealed.contains("vvvv") && !sealed.contains("nonce"));
        let raw = URL_SAFE_NO_PAD.decode(&sealed).expect("b64");
        assert!(!raw.windows(7).any(|w| w == b"nonce-1"));
        let opened = open_state(&sealed, &key(), NOW).expect("open");
        assert_eq!(opened.verifier.expose_secret(), &"v".repeat(43));
        assert_eq!(opened.nonce, "nonce-1");
        assert_eq!(opened.redirect_uri, "https://app.example.com/callback");
        assert_ne!(sealed, seal_state(&data(), &key()).expect("seal"));
    }

    #[test]
    fn tampered_foreign_or_garbage_state_is_refused() {
        let sealed = seal_state(&data(), &key()).expect("seal");
        let mut raw = URL_SAFE_NO_PAD.decode(&sealed).expect("b64");
        for i in [0, 1, 20, raw.len() - 1] {
            raw[i] ^= 1;
            let tampered = URL_SAFE_NO_PAD.encode(&raw);
            assert!(matches!(
                open_state(&tampered, &key(), NOW),
                Err(AuthError::StateInvalid)
            ));
            raw[i] ^= 1;
        }
        let other = StateKey::derive(&SecretString::from("x".repeat(40))).expect("key");
        assert!(matches!(
            open_state(&sealed, &other, NOW),
            Err(AuthError::StateInvalid)
        ));
        for garbage in ["", "!!!", "AA", &"A".repeat(5000)] {
            assert!(matches!(
                open_state(garbage, &key(), NOW),
                Err(AuthError::StateInvalid)
            ));
        }
    }

    #[test]
    fn expired_state_is_refused() {
        let sealed = seal_state(&data(), &key()).expect("seal");
        assert!(open_state(&sealed, &key(), NOW + STATE_TTL_SECS).is_ok());
        assert!(matches!(
            open_state(&sealed, &key(), NOW + STATE_TTL_SECS + 1),
            Err(AuthError::StateInvalid)
        ));
    }

    #[test]
    fn short_secrets_are_refused_and_keys_never_print() {
        assert_eq!(
            StateKey::derive(&SecretString::from("short")).map(|_| ()),
            Err(StateKeyTooShort)
        );
        assert_eq!(format!("{:?}", key()), "StateKey([REDACTED])");
        let shown = format!("{:?}", data());
        assert!(!shown.contains("vvv") && !shown.contains("nonce-1"));
    }
}
