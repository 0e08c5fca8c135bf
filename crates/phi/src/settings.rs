//! PHI encryption settings (PHI_* variables), parsed and validated once at start.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

/// Where data keys are wrapped.
#[derive(Clone)]
pub enum PhiMode {
    /// PHI_ENCRYPTION unset: no keys are made; the PHI commands refuse to run.
    Off,
    /// PHI_ENCRYPTION=kms: `GenerateDataKey`/`Decrypt` under PHI_KMS_KEY_ID.
    Kms { key_id: String },
    /// PHI_ENCRYPTION=local: a local master key, from PHI_LOCAL_MASTER_KEY in the environment
    /// or, when `None` here, from the same key of the Secrets Manager secret.
    Local { master_key: Option<SecretString> },
}

impl fmt::Debug for PhiMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("Off"),
            Self::Kms { key_id } => f.debug_struct("Kms").field("key_id", key_id).finish(),
            Self::Local { master_key } => f
                .debug_struct("Local")
                .field("master_key", &master_key.as_ref().map(|_| "[REDACTED]"))
                .finish(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PhiSettings {
    pub mode: PhiMode,
    /// AWS_REGION for the KMS client (the default chain when unset).
    pub region: Option<String>,
    /// PHI_KMS_TIMEOUT_SECONDS: the longest single KMS call.
    pub kms_timeout: Duration,
    /// PHI_KEY_CACHE_TTL_SECONDS: how long an unwrapped key is used before it is unwrapped
    /// again; also how long a demoted version stays in its grace period before retirement.
    pub cache_ttl: Duration,
    /// PHI_KEY_CACHE_MAX_TENANTS: tenants whose keys are held at once, per process.
    pub cache_max_tenants: usize,
    /// PHI_ACCEPT_LEGACY_PLAINTEXT: read values stored before encryption (format 0x00).
    pub accept_legacy_plaintext: bool,
}

impl Default for PhiSettings {
    /// Encryption off, every other setting at its documented default.
    fn default() -> Self {
        Self {
            mode: PhiMode::Off,
            region: None,
            kms_timeout: Duration::from_secs(3),
            cache_ttl: Duration::from_secs(900),
            cache_max_tenants: 10_000,
            accept_legacy_plaintext: true,
        }
    }
}

/// A bad PHI_* setting, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable} {problem}")]
pub struct SettingsError {
    pub variable: &'static str,
    pub problem: String,
}

/// The Secrets Manager key (and environment variable) of the local master key.
pub const LOCAL_MASTER_KEY: &str = "PHI_LOCAL_MASTER_KEY";

/// Collects every bad PHI_* setting of one run (the configuration reports them all at once).
struct Vars<'a> {
    vars: &'a HashMap<String, String>,
    errors: RefCell<Vec<SettingsError>>,
}

impl Vars<'_> {
    fn invalid(&self, variable: &'static str, problem: impl Into<String>) {
        self.errors.borrow_mut().push(SettingsError {
            variable,
            problem: problem.into(),
        });
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn seconds(&self, name: &'static str, default: u64, range: RangeInclusive<u64>) -> u64 {
        let value = match self.text(name) {
            None => Some(default),
            Some(v) => v.parse().ok(),
        };
        match value.filter(|v| range.contains(v)) {
            Some(value) => value,
            None => {
                let (low, high) = (range.start(), range.end());
                self.invalid(name, format!("must be a whole number from {low} to {high}"));
                default
            }
        }
    }

    fn flag(&self, name: &'static str, default: bool) -> bool {
        match self.text(name).map(str::to_ascii_lowercase).as_deref() {
            None => default,
            Some("true" | "1" | "yes" | "on") => true,
            Some("false" | "0" | "no" | "off") => false,
            Some(_) => {
                self.invalid(name, "must be true or false");
                default
            }
        }
    }
}

/// Decodes a master key: standard base64 of exactly 32 bytes. The value is never echoed.
pub(crate) fn decode_master_key(value: &SecretString) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.expose_secret().trim())
        .ok()
        .map(zeroize::Zeroizing::new)?;
    (bytes.len() == 32).then_some(bytes)
}

impl PhiSettings {
    /// Reads the PHI_* variables, reporting every bad one. `production` refuses the local
    /// master key unless PHI_ALLOW_LOCAL_MASTER_KEY=true; `has_secret` says a Secrets Manager
    /// secret is configured (it may hold PHI_LOCAL_MASTER_KEY).
    pub fn from_vars(
        vars: &HashMap<String, String>,
        production: bool,
        has_secret: bool,
    ) -> Result<Self, Vec<SettingsError>> {
        let env = Vars {
            vars,
            errors: RefCell::default(),
        };
        let mode = match env.text("PHI_ENCRYPTION") {
            None | Some("off") => PhiMode::Off,
            Some("kms") => {
                let key_id = env.text("PHI_KMS_KEY_ID").unwrap_or_default().to_owned();
                if key_id.is_empty() {
                    env.invalid("PHI_KMS_KEY_ID", "is required when PHI_ENCRYPTION=kms");
                }
                PhiMode::Kms { key_id }
            }
            Some("local") => {
                if production && !env.flag("PHI_ALLOW_LOCAL_MASTER_KEY", false) {
                    env.invalid(
                        "PHI_ENCRYPTION",
                        "must be kms in production (local is for development; \
                         PHI_ALLOW_LOCAL_MASTER_KEY=true overrides, see docs/CONFIGURATION.md)",
                    );
                }
                let master_key = env
                    .text(LOCAL_MASTER_KEY)
                    .map(|v| SecretString::from(v.to_owned()));
                match &master_key {
                    Some(key) if decode_master_key(key).is_none() => {
                        env.invalid(LOCAL_MASTER_KEY, "must be 32 bytes in standard base64");
                    }
                    None if !has_secret => env.invalid(
                        LOCAL_MASTER_KEY,
                        "is required when PHI_ENCRYPTION=local (in the environment or the \
                         Secrets Manager secret)",
                    ),
                    _ => {}
                }
                PhiMode::Local { master_key }
            }
            Some(_) => {
                env.invalid("PHI_ENCRYPTION", "must be kms, local or off");
                PhiMode::Off
            }
        };
        let settings = Self {
            mode,
            region: env.text("AWS_REGION").map(str::to_owned),
            kms_timeout: Duration::from_secs(env.seconds("PHI_KMS_TIMEOUT_SECONDS", 3, 1..=30)),
            cache_ttl: Duration::from_secs(env.seconds(
                "PHI_KEY_CACHE_TTL_SECONDS",
                900,
                10..=86_400,
            )),
            cache_max_tenants: env.seconds("PHI_KEY_CACHE_MAX_TENANTS", 10_000, 1..=1_000_000)
                as usize,
            accept_legacy_plaintext: env.flag("PHI_ACCEPT_LEGACY_PLAINTEXT", true),
        };
        let errors = env.errors.into_inner();
        if errors.is_empty() {
            Ok(settings)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn defaults_are_off_with_a_fifteen_minute_cache() {
        let settings = PhiSettings::from_vars(&vars(&[]), true, false).unwrap();
        assert!(matches!(settings.mode, PhiMode::Off));
        assert_eq!(settings.cache_ttl, Duration::from_secs(900));
        assert_eq!(settings.cache_max_tenants, 10_000);
        assert!(settings.accept_legacy_plaintext);
    }

    #[test]
    fn kms_needs_a_key_id() {
        let error = PhiSettings::from_vars(&vars(&[("PHI_ENCRYPTION", "kms")]), false, false)
            .unwrap_err()
            .remove(0);
        assert_eq!(error.variable, "PHI_KMS_KEY_ID");
        let ok = PhiSettings::from_vars(
            &vars(&[
                ("PHI_ENCRYPTION", "kms"),
                ("PHI_KMS_KEY_ID", "alias/haven-phi"),
            ]),
            true,
            false,
        )
        .unwrap();
        assert!(matches!(ok.mode, PhiMode::Kms { key_id } if key_id == "alias/haven-phi"));
    }

    #[test]
    fn the_local_master_key_is_refused_in_production_unless_allowed() {
        let local = [("PHI_ENCRYPTION", "local"), (LOCAL_MASTER_KEY, KEY)];
        let error = PhiSettings::from_vars(&vars(&local), true, false)
            .unwrap_err()
            .remove(0);
        assert_eq!(error.variable, "PHI_ENCRYPTION");
        assert!(PhiSettings::from_vars(&vars(&local), false, false).is_ok());
        let mut allowed = local.to_vec();
        allowed.push(("PHI_ALLOW_LOCAL_MASTER_KEY", "true"));
        assert!(PhiSettings::from_vars(&vars(&allowed), true, false).is_ok());
    }

    #[test]
    fn a_bad_master_key_is_named_but_never_echoed() {
        let error = PhiSettings::from_vars(
            &vars(&[("PHI_ENCRYPTION", "local"), (LOCAL_MASTER_KEY, "c2hvcnQ=")]),
            false,
            false,
        )
        .unwrap_err()
        .remove(0);
        assert_eq!(error.variable, LOCAL_MASTER_KEY);
        assert!(!error.to_string().contains("c2hvcnQ="));
        // Without one in the environment it may come from the secret.
        let error = PhiSettings::from_vars(&vars(&[("PHI_ENCRYPTION", "local")]), false, false)
            .unwrap_err()
            .remove(0);
        assert_eq!(error.variable, LOCAL_MASTER_KEY);
        assert!(PhiSettings::from_vars(&vars(&[("PHI_ENCRYPTION", "local")]), false, true).is_ok());
        let settings = PhiSettings::from_vars(
            &vars(&[("PHI_ENCRYPTION", "local"), (LOCAL_MASTER_KEY, KEY)]),
            false,
            false,
        )
        .unwrap();
        assert!(!format!("{settings:?}").contains(KEY));
    }
}
