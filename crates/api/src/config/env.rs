//! Typed reads of configuration variables, each error naming its variable.

use std::collections::HashMap;
use std::fmt::Display;
use std::str::FromStr;

use secrecy::SecretString;

/// A setting that stops the process at start: one line naming the variable and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {variable} {problem}")]
pub struct ConfigError {
    pub variable: String,
    pub problem: String,
}

pub(super) struct Env<'a> {
    vars: &'a HashMap<String, String>,
}

impl<'a> Env<'a> {
    pub(super) fn new(vars: &'a HashMap<String, String>) -> Self {
        Self { vars }
    }

    pub(super) fn invalid(&self, variable: &str, problem: impl Display) -> ConfigError {
        ConfigError {
            variable: variable.to_owned(),
            problem: problem.to_string(),
        }
    }

    /// The trimmed value, `None` when unset or blank (Railway shows unset variables as empty).
    pub(super) fn text(&self, name: &str) -> Result<Option<String>, ConfigError> {
        Ok(self
            .vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned))
    }

    pub(super) fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.text(name)?
            .ok_or_else(|| self.invalid(name, "is required"))
    }

    pub(super) fn secret(&self, name: &str) -> Option<SecretString> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(|v| SecretString::from(v.to_owned()))
    }

    pub(super) fn parse_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
    {
        match self.text(name)? {
            None => Ok(default),
            // The value itself is not echoed: a misplaced secret must not reach the log.
            Some(v) => v
                .parse()
                .map_err(|_| self.invalid(name, "has an invalid value")),
        }
    }

    pub(super) fn bounded(
        &self,
        name: &str,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let value: u64 = self.parse_or(name, default).map_err(|_| {
            self.invalid(name, format!("must be a whole number from {min} to {max}"))
        })?;
        if !(min..=max).contains(&value) {
            return Err(self.invalid(name, format!("must be a whole number from {min} to {max}")));
        }
        Ok(value)
    }

    pub(super) fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.text(name)?.map(|v| v.to_ascii_lowercase()).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(_) => Err(self.invalid(name, "must be true or false")),
        }
    }

    /// LOG_LEVEL: a level (any case: the seed used `INFO`) or a full `EnvFilter` directive.
    pub(super) fn log_level(&self, name: &str) -> Result<String, ConfigError> {
        let raw = self.text(name)?.unwrap_or_else(|| "info".to_owned());
        let lowered = raw.to_ascii_lowercase();
        let value = match lowered.as_str() {
            "warning" => "warn".to_owned(),
            "critical" | "fatal" => "error".to_owned(),
            "trace" | "debug" | "info" | "warn" | "error" | "off" => lowered,
            _ => raw,
        };
        tracing_subscriber::EnvFilter::try_new(&value).map_err(|_| {
            self.invalid(
                name,
                "must be a level (trace, debug, info, warn, error) or a filter directive",
            )
        })?;
        Ok(value)
    }

    /// A JWT claim name: any JSON key the IdP uses (`custom:tenant_id`, a URL), but not blank
    /// and not absurdly long.
    pub(super) fn claim_name(&self, name: &str, default: &str) -> Result<String, ConfigError> {
        let value = self.text(name)?.unwrap_or_else(|| default.to_owned());
        if value.len() > 256 || value.chars().any(char::is_control) {
            return Err(self.invalid(
                name,
                "must be a claim name of at most 256 printable characters",
            ));
        }
        Ok(value)
    }

    pub(super) fn http_url(
        &self,
        name: &str,
        value: &str,
        production: bool,
    ) -> Result<url::Url, ConfigError> {
        let url =
            url::Url::parse(value).map_err(|_| self.invalid(name, "must be an absolute URL"))?;
        match url.scheme() {
            "https" => Ok(url),
            "http" if !production => Ok(url),
            "http" => Err(self.invalid(name, "must use https in production")),
            _ => Err(self.invalid(name, "must be an http(s) URL")),
        }
    }

    /// JWT_ALLOWED_ALGORITHMS: comma-separated asymmetric algorithms (default RS256, ES256).
    /// `none` and the HS* family are refused: a shared secret has no place in verifying tokens
    /// minted by a third party.
    pub(super) fn algorithms(
        &self,
        name: &str,
    ) -> Result<Vec<crate::auth::Algorithm>, ConfigError> {
        use crate::auth::Algorithm;
        let Some(raw) = self.text(name)? else {
            return Ok(vec![Algorithm::RS256, Algorithm::ES256]);
        };
        let mut algorithms = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let algorithm = match item.to_ascii_uppercase().as_str() {
                "RS256" => Algorithm::RS256,
                "RS384" => Algorithm::RS384,
                "RS512" => Algorithm::RS512,
                "PS256" => Algorithm::PS256,
                "PS384" => Algorithm::PS384,
                "PS512" => Algorithm::PS512,
                "ES256" => Algorithm::ES256,
                "ES384" => Algorithm::ES384,
                "EDDSA" => Algorithm::EdDSA,
                _ => {
                    return Err(self.invalid(
                        name,
                        format!("has {item}: only RS*, PS*, ES256, ES384 and EdDSA are allowed"),
                    ));
                }
            };
            if !algorithms.contains(&algorithm) {
                algorithms.push(algorithm);
            }
        }
        if algorithms.is_empty() {
            return Err(self.invalid(name, "must list at least one algorithm"));
        }
        Ok(algorithms)
    }

    /// A PostgreSQL URL the driver can parse. The value is never echoed (it holds a password).
    pub(super) fn database_url(&self, name: &str, url: &SecretString) -> Result<(), ConfigError> {
        use secrecy::ExposeSecret;
        let parsed = url::Url::parse(url.expose_secret()).map_err(|_| {
            self.invalid(
                name,
                "is not a URL (postgres://user:password@host:port/database)",
            )
        })?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(self.invalid(name, "must be a postgres:// or postgresql:// URL"));
        }
        haven_db::pool::connect_options(url, &haven_db::PoolSettings::default())
            .map_err(|e| self.invalid(name, e.to_string().trim_start_matches("DATABASE_URL ")))?;
        Ok(())
    }

    /// A comma-separated list of CIDRs or single addresses.
    pub(super) fn networks(&self, name: &str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        let Some(raw) = self.text(name)? else {
            return Ok(Vec::new());
        };
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                item.parse::<ipnet::IpNet>()
                    .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        self.invalid(
                            name,
                            format!("has an entry that is not an address or CIDR: {item}"),
                        )
                    })
            })
            .collect()
    }

    /// ALLOWED_ORIGINS: comma-separated exact origins (`scheme://host[:port]`, no path).
    pub(super) fn origins(&self, name: &str, production: bool) -> Result<Vec<String>, ConfigError> {
        let Some(raw) = self.text(name)? else {
            return Ok(Vec::new());
        };
        let mut origins = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "*" {
                if production {
                    return Err(self.invalid(name, "must not contain * in production"));
                }
                origins.push(item.to_owned());
                continue;
            }
            let url = url::Url::parse(item).map_err(|_| {
                self.invalid(name, format!("has an entry that is not an origin: {item}"))
            })?;
            let is_bare_origin = url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none()
                && url.username().is_empty()
                && !item.ends_with('/');
            if !matches!(url.scheme(), "http" | "https")
                || url.host_str().is_none()
                || !is_bare_origin
            {
                return Err(self.invalid(
                    name,
                    format!("has an entry that is not an origin (scheme://host[:port]): {item}"),
                ));
            }
            if production && url.scheme() == "http" {
                return Err(self.invalid(name, format!("must use https in production: {item}")));
            }
            origins.push(url.origin().ascii_serialization());
        }
        Ok(origins)
    }
}
