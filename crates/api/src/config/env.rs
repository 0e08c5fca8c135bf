//! Typed reads of configuration variables. A bad value is recorded (one line per variable) and
//! replaced by its default so that parsing goes on and every mistake is reported in one run.

use std::cell::RefCell;
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

/// Every bad setting of one run, in the order found; `Display` gives one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for ConfigErrors {}

impl ConfigErrors {
    /// The variables at fault, in order.
    pub fn variables(&self) -> Vec<&str> {
        self.0.iter().map(|e| e.variable.as_str()).collect()
    }
}

pub(super) struct Env<'a> {
    vars: &'a HashMap<String, String>,
    errors: RefCell<Vec<ConfigError>>,
}

impl<'a> Env<'a> {
    pub(super) fn new(vars: &'a HashMap<String, String>) -> Self {
        Self {
            vars,
            errors: RefCell::new(Vec::new()),
        }
    }

    /// Records a bad setting (only the first problem of each variable is kept).
    pub(super) fn invalid(&self, variable: &str, problem: impl Display) {
        let mut errors = self.errors.borrow_mut();
        if !errors.iter().any(|e| e.variable == variable) {
            errors.push(ConfigError {
                variable: variable.to_owned(),
                problem: problem.to_string(),
            });
        }
    }

    /// `Ok(value)` when nothing was recorded, else every recorded problem.
    pub(super) fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        let errors = self.errors.into_inner();
        if errors.is_empty() {
            Ok(value)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// The trimmed value, `None` when unset or blank (Railway shows unset variables as empty).
    pub(super) fn text(&self, name: &str) -> Option<String> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    pub(super) fn required(&self, name: &str) -> String {
        self.text(name).unwrap_or_else(|| {
            self.invalid(name, "is required");
            String::new()
        })
    }

    pub(super) fn secret(&self, name: &str) -> Option<SecretString> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(|v| SecretString::from(v.to_owned()))
    }

    pub(super) fn parse_or<T>(&self, name: &str, default: T) -> T
    where
        T: FromStr,
    {
        match self.text(name) {
            None => default,
            // The value itself is not echoed: a misplaced secret must not reach the log.
            Some(v) => v.parse().unwrap_or_else(|_| {
                self.invalid(name, "has an invalid value");
                default
            }),
        }
    }

    pub(super) fn bounded(&self, name: &str, default: u64, min: u64, max: u64) -> u64 {
        match self.text(name).map(|v| v.parse::<u64>()) {
            None => default,
            Some(Ok(value)) if (min..=max).contains(&value) => value,
            Some(_) => {
                self.invalid(name, format!("must be a whole number from {min} to {max}"));
                default
            }
        }
    }

    pub(super) fn flag(&self, name: &str, default: bool) -> bool {
        match self.text(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => default,
            Some("true" | "1" | "yes" | "on") => true,
            Some("false" | "0" | "no" | "off") => false,
            Some(_) => {
                self.invalid(name, "must be true or false");
                default
            }
        }
    }

    /// One of `choices` (exact), or `default` when unset.
    pub(super) fn choice<T: Copy>(&self, name: &str, default: T, choices: &[(&str, T)]) -> T {
        let Some(value) = self.text(name) else {
            return default;
        };
        match choices.iter().find(|(text, _)| *text == value) {
            Some((_, choice)) => *choice,
            None => {
                let names: Vec<&str> = choices.iter().map(|(text, _)| *text).collect();
                self.invalid(name, format!("must be one of {}", names.join(", ")));
                default
            }
        }
    }

    /// LOG_LEVEL: a level (any case: the seed used `INFO`) or a full `EnvFilter` directive.
    pub(super) fn log_level(&self, name: &str) -> String {
        let raw = self.text(name).unwrap_or_else(|| "info".to_owned());
        let lowered = raw.to_ascii_lowercase();
        let value = match lowered.as_str() {
            "warning" => "warn".to_owned(),
            "critical" | "fatal" => "error".to_owned(),
            "trace" | "debug" | "info" | "warn" | "error" | "off" => lowered,
            _ => raw,
        };
        if tracing_subscriber::EnvFilter::try_new(&value).is_err() {
            self.invalid(
                name,
                "must be a level (trace, debug, info, warn, error) or a filter directive",
            );
            return "info".to_owned();
        }
        value
    }

    /// A JWT claim name: any JSON key the IdP uses (`custom:tenant_id`, a URL), but not blank
    /// and not absurdly long.
    pub(super) fn claim_name(&self, name: &str, default: &str) -> String {
        let value = self.text(name).unwrap_or_else(|| default.to_owned());
        if value.len() > 256 || value.chars().any(char::is_control) {
            self.invalid(
                name,
                "must be a claim name of at most 256 printable characters",
            );
            return default.to_owned();
        }
        value
    }

    /// An absolute http(s) URL; https in production.
    pub(super) fn http_url(&self, name: &str, value: &str, production: bool) {
        let Ok(url) = url::Url::parse(value) else {
            return self.invalid(name, "must be an absolute URL");
        };
        match url.scheme() {
            "https" => {}
            "http" if !production => {}
            "http" => self.invalid(name, "must use https in production"),
            _ => self.invalid(name, "must be an http(s) URL"),
        }
    }

    /// JWT_ALLOWED_ALGORITHMS: comma-separated asymmetric algorithms (default RS256, ES256).
    /// `none` and the HS* family are refused: a shared secret has no place in verifying tokens
    /// minted by a third party.
    pub(super) fn algorithms(&self, name: &str) -> Vec<crate::auth::Algorithm> {
        use crate::auth::Algorithm;
        let default = vec![Algorithm::RS256, Algorithm::ES256];
        let Some(raw) = self.text(name) else {
            return default;
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
                    self.invalid(
                        name,
                        format!("has {item}: only RS*, PS*, ES256, ES384 and EdDSA are allowed"),
                    );
                    return default;
                }
            };
            if !algorithms.contains(&algorithm) {
                algorithms.push(algorithm);
            }
        }
        if algorithms.is_empty() {
            self.invalid(name, "must list at least one algorithm");
            return default;
        }
        algorithms
    }

    /// A PostgreSQL URL the driver can parse. The value is never echoed (it holds a password).
    pub(super) fn database_url(&self, name: &str, url: &SecretString) {
        use secrecy::ExposeSecret;
        let Ok(parsed) = url::Url::parse(url.expose_secret()) else {
            return self.invalid(
                name,
                "is not a URL (postgres://user:password@host:port/database)",
            );
        };
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return self.invalid(name, "must be a postgres:// or postgresql:// URL");
        }
        if let Err(e) = haven_db::pool::connect_options(url, &haven_db::PoolSettings::default()) {
            self.invalid(name, e.to_string().trim_start_matches("DATABASE_URL "));
        }
    }

    /// A comma-separated list of CIDRs or single addresses.
    pub(super) fn networks(&self, name: &str) -> Vec<ipnet::IpNet> {
        let Some(raw) = self.text(name) else {
            return Vec::new();
        };
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .filter_map(|item| {
                let parsed = item
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
                if parsed.is_err() {
                    self.invalid(
                        name,
                        format!("has an entry that is not an address or CIDR: {item}"),
                    );
                }
                parsed.ok()
            })
            .collect()
    }

    /// ALLOWED_ORIGINS: comma-separated exact origins (`scheme://host[:port]`, no path).
    pub(super) fn origins(&self, name: &str, production: bool) -> Vec<String> {
        let Some(raw) = self.text(name) else {
            return Vec::new();
        };
        let mut origins = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "*" {
                if production {
                    self.invalid(name, "must not contain * in production");
                    continue;
                }
                origins.push(item.to_owned());
                continue;
            }
            let Ok(url) = url::Url::parse(item) else {
                self.invalid(name, format!("has an entry that is not an origin: {item}"));
                continue;
            };
            let is_bare_origin = url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none()
                && url.username().is_empty()
                && !item.ends_with('/');
            if !matches!(url.scheme(), "http" | "https")
                || url.host_str().is_none()
                || !is_bare_origin
            {
                self.invalid(
                    name,
                    format!("has an entry that is not an origin (scheme://host[:port]): {item}"),
                );
                continue;
            }
            if production && url.scheme() == "http" {
                self.invalid(name, format!("must use https in production: {item}"));
                continue;
            }
            origins.push(url.origin().ascii_serialization());
        }
        origins
    }
}
