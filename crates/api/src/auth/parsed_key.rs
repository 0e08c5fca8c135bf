//! RSA keys parsed once per key and algorithm instead of once per signature.
//!
//! jsonwebtoken's aws-lc verifier builds the RSA public key from the JWK's `n` and `e` for every
//! token it checks, and aws-lc computes the modulus's Montgomery context each time: about 25,000
//! instructions and 36 allocations per verification (docs/PERFORMANCE.md, "RSA keys parsed
//! once"). aws-lc-rs's [`ParsedPublicKey`] holds the parsed key, context included, for reuse.
//!
//! jsonwebtoken still does every check: `decode` parses the header, compares `alg` with the
//! validation, picks the verifier from the process's [`CryptoProvider`], checks the signature
//! with it and then the registered claims. Haven's provider is aws-lc's own except for one
//! thing: when [`with_key`] has named the [`CachedKey`] whose [`DecodingKey`] (that exact value,
//! by address) jsonwebtoken asks a verifier for, and the algorithm is one of the RSA ones, the
//! verifier is that key's [`ParsedPublicKey`] for that algorithm, made by aws-lc from the same
//! `n` and `e` with the same parameters (padding, digest, 2048-8192 bits) at its first use. Any
//! other key, an algorithm outside the RSA family, or a key aws-lc refuses to parse goes to
//! aws-lc's provider unchanged, which then answers (and fails) exactly as before.

use std::cell::RefCell;
use std::sync::{Arc, LazyLock, Once, OnceLock};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::PublicKeyComponents;
use aws_lc_rs::signature::{self as aws_sig, ParsedPublicKey, RsaParameters};
use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier, aws_lc};
use jsonwebtoken::signature::{Error as SignatureError, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};

use super::keyset::CachedKey;

/// The RSA algorithms and aws-lc's parameters for each: the ones jsonwebtoken's aws-lc verifier
/// uses for them.
const RSA: [(Algorithm, &RsaParameters); 6] = [
    (Algorithm::RS256, &aws_sig::RSA_PKCS1_2048_8192_SHA256),
    (Algorithm::RS384, &aws_sig::RSA_PKCS1_2048_8192_SHA384),
    (Algorithm::RS512, &aws_sig::RSA_PKCS1_2048_8192_SHA512),
    (Algorithm::PS256, &aws_sig::RSA_PSS_2048_8192_SHA256),
    (Algorithm::PS384, &aws_sig::RSA_PSS_2048_8192_SHA384),
    (Algorithm::PS512, &aws_sig::RSA_PSS_2048_8192_SHA512),
];

/// One key's parsed forms, one per RSA algorithm, each made when a token first needs it (most
/// keys only ever see one algorithm). `None` in a slot: aws-lc refused the key for it.
#[derive(Default)]
pub(crate) struct ParsedRsa {
    by_alg: [OnceLock<Option<Arc<ParsedPublicKey>>>; RSA.len()],
}

impl ParsedRsa {
    /// `key` parsed for `alg`, made on first use; `None` for a key that is not RSA components,
    /// an algorithm outside the RSA family, or a key aws-lc refuses.
    fn get(&self, alg: Algorithm, key: &DecodingKey) -> Option<Arc<ParsedPublicKey>> {
        let index = RSA.iter().position(|(a, _)| *a == alg)?;
        let (_, params) = RSA[index];
        self.by_alg[index]
            .get_or_init(|| parse(params, key).map(Arc::new))
            .clone()
    }

    /// Whether `alg`'s parsed form has been made (for tests).
    #[cfg(test)]
    fn is_parsed(&self, alg: Algorithm) -> bool {
        RSA.iter()
            .position(|(a, _)| *a == alg)
            .is_some_and(|index| matches!(self.by_alg[index].get(), Some(Some(_))))
    }
}

fn parse(params: &'static RsaParameters, key: &DecodingKey) -> Option<ParsedPublicKey> {
    let DecodingKeyKind::RsaModulusExponent { n, e } = key.kind() else {
        return None;
    };
    let der = PublicKeyComponents {
        n: n.as_slice(),
        e: e.as_slice(),
    }
    .as_der()
    .ok()?;
    ParsedPublicKey::new(params, der.as_ref()).ok()
}

thread_local! {
    /// The key [`with_key`] is verifying with on this thread, for [`verifier_for`] to recognise.
    static CURRENT: RefCell<Option<Arc<CachedKey>>> = const { RefCell::new(None) };
}

/// Runs `decode` (a call of `jsonwebtoken::decode` with `key.key`) with `key` named to Haven's
/// provider, so its RSA signature is checked with the key's parsed form. Installs the provider
/// on first use.
pub(crate) fn with_key<T>(key: &Arc<CachedKey>, decode: impl FnOnce() -> T) -> T {
    install();
    CURRENT.with(|current| *current.borrow_mut() = Some(Arc::clone(key)));
    // Cleared however `decode` ends.
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            CURRENT.with(|current| current.borrow_mut().take());
        }
    }
    let _clear = Clear;
    decode()
}

/// aws-lc's provider with [`verifier_for`] as its verifier factory.
static PROVIDER: LazyLock<CryptoProvider> = LazyLock::new(|| CryptoProvider {
    verifier_factory: verifier_for,
    ..aws_lc::DEFAULT_PROVIDER.clone()
});

/// Makes [`PROVIDER`] the process's jsonwebtoken provider, once. If another provider was chosen
/// first (only possible if something signed or verified a token before Haven's first
/// verification), that one stays and every signature is checked the way it checks them.
pub(crate) fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if CryptoProvider::install_default(&PROVIDER).is_err() {
            tracing::warn!(
                "another jsonwebtoken crypto provider was installed first: RSA keys are parsed \
                 for every token"
            );
        }
    });
}

/// Haven's verifier factory: the named key's parsed form where there is one, else aws-lc's.
fn verifier_for(
    alg: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    let parsed = CURRENT.with(|current| {
        let current = current.borrow();
        let cached = current
            .as_deref()
            .filter(|cached| std::ptr::eq(&cached.key, key))?;
        cached.parsed.get(*alg, key)
    });
    match parsed {
        Some(key) => Ok(Box::new(Parsed { alg: *alg, key })),
        None => (aws_lc::DEFAULT_PROVIDER.verifier_factory)(alg, key),
    }
}

/// A verifier over a parsed key.
struct Parsed {
    alg: Algorithm,
    key: Arc<ParsedPublicKey>,
}

impl Verifier<Vec<u8>> for Parsed {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), SignatureError> {
        self.key
            .verify_sig(message, signature)
            .map_err(SignatureError::from_source)
    }
}

impl JwtVerifier for Parsed {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

#[cfg(test)]
#[path = "parsed_key_tests.rs"]
mod tests;
