//! Configuration: read from the environment once, parsed straight into its sections, validated
//! once (every mistake reported in the same run), passed down as `Arc<Config>`.

mod env;
mod limits;
mod sections;
mod storage;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use secrecy::SecretString;

use crate::auth::AuthSettings;

use env::Env;
pub use env::{ConfigError, ConfigErrors};
pub use limits::{LimitsConfig, MetricsConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Staging,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Staging => "staging",
            Self::Production => "production",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `None` only when a Secrets Manager secret is configured to supply it.
    pub url: Option<SecretString>,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
    /// Tenant transactions one tenant may hold at once (its share of the pool, per replica).
    pub tenant_max_connections: u32,
    /// Audit exports one tenant may stream at once (per replica).
    pub tenant_max_exports: u32,
    pub run_migrations_on_start: bool,
    /// How long start-up keeps trying to reach the database before giving up.
    pub connect_retry: Duration,
}

#[derive(Debug, Clone)]
pub struct SecretsConfig {
    pub secret_id: String,
    pub region: Option<String>,
    /// How often the secret is re-read, so a rotation takes effect without a restart.
    pub refresh_every: Duration,
    /// How long refreshes may keep failing before readiness reports `secrets: unavailable`.
    pub stale_after: Duration,
    /// How long start-up retries transient Secrets Manager failures before giving up.
    pub startup_retry: Duration,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Environment,
    /// An `EnvFilter` directive, e.g. `info` or `info,haven_api=debug`.
    pub log_level: String,
    pub bind_address: IpAddr,
    pub port: u16,
    pub allowed_origins: Vec<String>,
    /// TRUSTED_PROXIES: peers whose `X-Forwarded-For` is believed (CIDRs or addresses).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The identity provider and how tokens are checked (OIDC_* and JWT_* variables); `None`
    /// in development without OIDC_ISSUER_URL.
    pub auth: Option<AuthSettings>,
    /// OIDC_CLIENT_SECRET from the environment (local development); production takes it from
    /// Secrets Manager.
    pub oidc_client_secret: Option<SecretString>,
    pub database: DatabaseConfig,
    pub secrets: Option<SecretsConfig>,
    pub shutdown_grace: Duration,
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    pub docs_enabled: bool,
    /// DEV_TENANT_EXTERNAL_ID: a tenant created at start if missing, so a local IdP's tokens
    /// work at once. Development only: refused in any other environment.
    pub dev_tenant_external_id: Option<String>,
    /// Names (never values) of the variables set in the environment: start-up warns when a key
    /// the Secrets Manager secret supplies is also set here.
    pub environment_names: std::collections::BTreeSet<String>,
    /// Routes that exist only to test the service itself (slow and panicking handlers).
    /// Refused in production.
    pub test_routes_enabled: bool,
    /// Rate limits, the concurrency cap and the header read timeout (per replica).
    pub limits: LimitsConfig,
    /// The private Prometheus listener; `None` when METRICS_PORT is unset.
    pub metrics: Option<MetricsConfig>,
    /// Document content storage (STORAGE_*); `None` when STORAGE_BUCKET is unset.
    pub storage: Option<haven_storage::StorageSettings>,
    /// Field-level PHI encryption (PHI_* variables, parsed by haven-phi).
    pub phi: haven_phi::PhiSettings,
}

/// What the operator commands (`migrate`, `tenants`, `audit`, `documents`) need: the database
/// and where its URL may come from, and the document storage the purges delete from. Nothing
/// else is read, so `DATABASE_URL` alone is enough.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// LOG_LEVEL, for the commands that log (`migrate`).
    pub log_level: String,
    pub database: DatabaseConfig,
    pub secrets: Option<SecretsConfig>,
    /// STORAGE_* (without the production-only rules: no command here issues URLs); `None`
    /// when STORAGE_BUCKET is unset.
    pub storage: Option<haven_storage::StorageSettings>,
    /// PHI_* (off unless set): `tenants rotate-key` and `phi reencrypt|encrypt-existing` use it.
    pub phi: haven_phi::PhiSettings,
}

impl OperatorConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::from_map(&std::env::vars().collect())
    }

    /// Builds the operator's sections from a map of variables.
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, ConfigErrors> {
        let env = Env::new(vars);
        let secrets = sections::secrets(&env);
        let database = sections::database(&env, secrets.is_some());
        let log_level = env.log_level("LOG_LEVEL");
        let storage = storage::storage(&env, false);
        let production = sections::environment(&env) == Environment::Production;
        let phi = sections::phi(&env, vars, production, secrets.is_some());
        env.finish(Self {
            log_level,
            database,
            secrets,
            storage,
            phi,
        })
    }
}

impl Config {
    /// Reads the process environment. The only place the environment is read.
    pub fn from_env() -> Result<Self, ConfigErrors> {
        Self::from_map(&std::env::vars().collect())
    }

    /// Builds and validates a configuration from a map of variables (tests pass their own).
    /// Every bad variable is reported, one line each.
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, ConfigErrors> {
        let env = Env::new(vars);
        let environment = sections::environment(&env);
        let production = environment == Environment::Production;

        let log_level = env.log_level("LOG_LEVEL");
        let port = env.parse_or("PORT", 8000u16);
        if port == 0 {
            env.invalid("PORT", "must be between 1 and 65535");
        }
        let bind_address = env.parse_or("BIND_ADDRESS", IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let allowed_origins = env.origins("ALLOWED_ORIGINS", production);
        let trusted_proxies = env.networks("TRUSTED_PROXIES");
        let auth = sections::auth(&env, environment);
        let secrets = sections::secrets(&env);
        let database = sections::database(&env, secrets.is_some());

        let docs_enabled = env.flag("DOCS_ENABLED", !production);
        let test_routes_enabled = env.flag("ENABLE_TEST_ROUTES", false);
        if test_routes_enabled && production {
            env.invalid("ENABLE_TEST_ROUTES", "must not be set in production");
        }
        let dev_tenant_external_id = env.text("DEV_TENANT_EXTERNAL_ID");
        if let Some(id) = &dev_tenant_external_id {
            if environment != Environment::Development {
                env.invalid(
                    "DEV_TENANT_EXTERNAL_ID",
                    "is only allowed when ENVIRONMENT=development (tenants are never created automatically elsewhere)",
                );
            } else if !crate::auth::is_valid_tenant_id(id) {
                env.invalid(
                    "DEV_TENANT_EXTERNAL_ID",
                    "must be 1 to 128 characters of letters, digits and . _ : @ / -",
                );
            }
        }

        let phi = sections::phi(&env, vars, production, secrets.is_some());
        let config = Config {
            environment,
            log_level,
            bind_address,
            port,
            allowed_origins,
            trusted_proxies,
            auth,
            oidc_client_secret: env.secret("OIDC_CLIENT_SECRET"),
            database,
            secrets,
            shutdown_grace: Duration::from_secs(env.bounded("SHUTDOWN_GRACE_SECONDS", 25, 0, 600)),
            // At least 2 s: readiness answers within 1.5 s and must not be cut off as a 504.
            request_timeout: Duration::from_secs(env.bounded(
                "REQUEST_TIMEOUT_SECONDS",
                30,
                2,
                600,
            )),
            body_limit_bytes: env.bounded("MAX_BODY_BYTES", 1024 * 1024, 1024, 64 * 1024 * 1024)
                as usize,
            docs_enabled,
            dev_tenant_external_id,
            environment_names: vars
                .iter()
                .filter(|(_, v)| !v.trim().is_empty())
                .map(|(k, _)| k.clone())
                .collect(),
            test_routes_enabled,
            limits: limits::limits(&env),
            metrics: limits::metrics(&env, port),
            storage: storage::storage(&env, production),
            phi,
        };
        env.finish(config)
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }
}

#[cfg(test)]
mod tests;
