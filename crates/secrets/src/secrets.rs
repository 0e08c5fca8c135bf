//! The typed, masked secrets the application runs with, and the environment fallback.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// Key of the OIDC confidential client's secret.
pub const OIDC_CLIENT_SECRET: &str = "OIDC_CLIENT_SECRET";
/// Key of the database connection string (it may carry a password).
pub const DATABASE_URL: &str = "DATABASE_URL";

/// Secrets loaded from Secrets Manager or the environment.
///
/// Every value is a [`SecretString`]; `Debug` shows which keys are present, never a value.
#[derive(Clone, Default)]
pub struct AppSecrets {
    /// `OIDC_CLIENT_SECRET`: the OIDC client secret used for the code exchange.
    pub oidc_client_secret: Option<SecretString>,
    /// `DATABASE_URL`: the connection string, when the secret carries it.
    pub database_url: Option<SecretString>,
    /// Every other key of the secret, by name.
    pub extra: BTreeMap<String, SecretString>,
}

impl AppSecrets {
    /// Secrets for local development, taken from an environment snapshot the caller read.
    ///
    /// Only `OIDC_CLIENT_SECRET` is taken (an empty value counts as absent): `DATABASE_URL` in
    /// the environment is ordinary configuration that the application reads itself.
    pub fn from_env_map(env: &HashMap<String, String>) -> AppSecrets {
        AppSecrets {
            oidc_client_secret: env
                .get(OIDC_CLIENT_SECRET)
                .filter(|value| !value.is_empty())
                .map(|value| SecretString::from(value.as_str())),
            database_url: None,
            extra: BTreeMap::new(),
        }
    }

    /// The value stored under `key`, whether a known field or an extra key.
    pub fn get(&self, key: &str) -> Option<&SecretString> {
        match key {
            OIDC_CLIENT_SECRET => self.oidc_client_secret.as_ref(),
            DATABASE_URL => self.database_url.as_ref(),
            other => self.extra.get(other),
        }
    }

    /// The names of the keys that hold a value, sorted. Safe to log.
    pub fn key_names(&self) -> Vec<&str> {
        let known = [
            (OIDC_CLIENT_SECRET, self.oidc_client_secret.is_some()),
            (DATABASE_URL, self.database_url.is_some()),
        ];
        let mut names: Vec<&str> = known
            .into_iter()
            .filter_map(|(name, present)| present.then_some(name))
            .chain(self.extra.keys().map(String::as_str))
            .collect();
        names.sort_unstable();
        names
    }

    /// The names of the keys added, removed or changed in `newer`, sorted. Safe to log.
    pub fn changed_keys(&self, newer: &AppSecrets) -> Vec<String> {
        let mut names: Vec<&str> = self.key_names();
        names.extend(newer.key_names());
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .filter(|name| {
                let before = self.get(name).map(ExposeSecret::expose_secret);
                let after = newer.get(name).map(ExposeSecret::expose_secret);
                before != after
            })
            .map(str::to_owned)
            .collect()
    }
}

/// Stands in for a value in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

fn masked(value: Option<&SecretString>) -> Option<Redacted> {
    value.map(|_| Redacted)
}

impl fmt::Debug for AppSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let extra = ExtraKeys(&self.extra);
        f.debug_struct("AppSecrets")
            .field(
                "oidc_client_secret",
                &masked(self.oidc_client_secret.as_ref()),
            )
            .field("database_url", &masked(self.database_url.as_ref()))
            .field("extra", &extra)
            .finish()
    }
}

/// The extra keys by name, each value masked.
struct ExtraKeys<'a>(&'a BTreeMap<String, SecretString>);

impl fmt::Debug for ExtraKeys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|key| (key, Redacted)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OIDC_VALUE: &str = "oidc-value-4f1c9e";
    const DB_VALUE: &str = "postgres://app:pw-83bd@db/haven";
    const EXTRA_VALUE: &str = "extra-value-77aa01";

    fn sample() -> AppSecrets {
        AppSecrets {
            oidc_client_secret: Some(OIDC_VALUE.into()),
            database_url: Some(DB_VALUE.into()),
            extra: BTreeMap::from([("WEBHOOK_KEY".to_owned(), EXTRA_VALUE.into())]),
        }
    }

    #[test]
    fn debug_output_masks_every_value_but_names_the_keys() {
        let secrets = sample();
        for rendered in [format!("{secrets:?}"), format!("{secrets:#?}")] {
            for value in [OIDC_VALUE, DB_VALUE, EXTRA_VALUE, "pw-83bd", "postgres://"] {
                assert!(!rendered.contains(value), "{value} leaked in {rendered}");
            }
            assert!(rendered.contains("oidc_client_secret"), "{rendered}");
            assert!(rendered.contains("WEBHOOK_KEY"), "{rendered}");
            assert!(rendered.contains("[REDACTED]"), "{rendered}");
        }
        let empty = format!("{:?}", AppSecrets::default());
        assert_eq!(
            empty,
            "AppSecrets { oidc_client_secret: None, database_url: None, extra: {} }"
        );
    }

    #[test]
    fn from_env_map_takes_the_oidc_secret_and_treats_empty_as_absent() {
        let env = HashMap::from([
            (OIDC_CLIENT_SECRET.to_owned(), OIDC_VALUE.to_owned()),
            (DATABASE_URL.to_owned(), DB_VALUE.to_owned()),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ]);
        let secrets = AppSecrets::from_env_map(&env);
        let oidc = secrets
            .oidc_client_secret
            .as_ref()
            .map(|s| s.expose_secret());
        assert_eq!(oidc, Some(OIDC_VALUE));
        assert!(secrets.database_url.is_none());
        assert!(secrets.extra.is_empty());

        let empty = HashMap::from([(OIDC_CLIENT_SECRET.to_owned(), String::new())]);
        assert!(
            AppSecrets::from_env_map(&empty)
                .oidc_client_secret
                .is_none()
        );
        assert!(
            AppSecrets::from_env_map(&HashMap::new())
                .oidc_client_secret
                .is_none()
        );
    }

    #[test]
    fn key_names_and_get_cover_known_and_extra_keys() {
        let secrets = sample();
        assert_eq!(
            secrets.key_names(),
            vec![DATABASE_URL, OIDC_CLIENT_SECRET, "WEBHOOK_KEY"]
        );
        let extra = secrets.get("WEBHOOK_KEY").map(|s| s.expose_secret());
        assert_eq!(extra, Some(EXTRA_VALUE));
        assert!(secrets.get("NOPE").is_none());
    }

    #[test]
    fn changed_keys_lists_added_removed_and_modified_names() {
        let before = sample();
        let mut after = sample();
        after.oidc_client_secret = Some("rotated".into());
        after.database_url = None;
        after.extra.insert("NEW_KEY".to_owned(), "v".into());
        assert_eq!(
            before.changed_keys(&after),
            vec![DATABASE_URL, "NEW_KEY", OIDC_CLIENT_SECRET]
        );
        assert!(before.changed_keys(&sample()).is_empty());
    }
}
