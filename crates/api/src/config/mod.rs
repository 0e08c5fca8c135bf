//! Configuration: read from the environment once, validated once, passed down as `Arc<Config>`.

mod env;
mod limits;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use secrecy::SecretString;

use crate::auth::{Algorithm, AudienceMode, AuthSettings};

pub use env::ConfigError;
use env::Env;
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

/// The identity provider this service trusts.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// Exactly as the IdP writes `iss` (a trailing slash is significant for some IdPs).
    pub issuer_url: String,
    pub client_id: String,
    /// What `aud` must contain; OIDC_AUDIENCE, defaulting to the client id.
    pub audience: String,
}

/// Token validation knobs (the names of the seed scaffold are kept).
#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub tenant_claim: String,
    pub roles_claim: String,
    pub max_lifetime: Duration,
    pub jwks_cache_ttl: Duration,
    /// JWT_ALLOWED_ALGORITHMS: asymmetric algorithms only (never `none`, never HS*).
    pub allowed_algorithms: Vec<Algorithm>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// An unknown `kid` refetches the JWKS at most once per this interval, process-wide.
    pub unknown_kid_cooldown: Duration,
    /// How the audience is checked (`aud`, or Cognito's `client_id` + `token_use`).
    pub audience_mode: AudienceMode,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `None` only when a Secrets Manager secret is configured to supply it.
    pub url: Option<SecretString>,
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
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
    pub oidc: Option<OidcConfig>,
    /// OIDC_CLIENT_SECRET from the environment (local development); production takes it from
    /// Secrets Manager.
    pub oidc_client_secret: Option<SecretString>,
    pub jwt: JwtConfig,
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
    /// Field-level PHI encryption (PHI_* variables, parsed by haven-phi).
    pub phi: haven_phi::PhiSettings,
}

impl Config {
    /// Reads the process environment. The only place the environment is read.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_map(&std::env::vars().collect())
    }

    /// Builds and validates a configuration from a map of variables (tests pass their own).
    pub fn from_map(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let env = Env::new(vars);
        let environment = match env.text("ENVIRONMENT")?.as_deref() {
            None | Some("development") | Some("dev") => Environment::Development,
            Some("staging") => Environment::Staging,
            Some("production") | Some("prod") => Environment::Production,
            Some(_) => {
                return Err(
                    env.invalid("ENVIRONMENT", "must be development, staging or production")
                );
            }
        };
        let production = environment == Environment::Production;

        let log_level = env.log_level("LOG_LEVEL")?;
        let port = env.parse_or("PORT", 8000u16)?;
        if port == 0 {
            return Err(env.invalid("PORT", "must be between 1 and 65535"));
        }
        let bind_address = env.parse_or("BIND_ADDRESS", IpAddr::V4(Ipv4Addr::UNSPECIFIED))?;
        let allowed_origins = env.origins("ALLOWED_ORIGINS", production)?;
        let trusted_proxies = env.networks("TRUSTED_PROXIES")?;

        let oidc = match env.text("OIDC_ISSUER_URL")? {
            Some(issuer_url) => {
                env.http_url("OIDC_ISSUER_URL", &issuer_url, production)?;
                let client_id = env.required("OIDC_CLIENT_ID")?;
                let audience = env
                    .text("OIDC_AUDIENCE")?
                    .unwrap_or_else(|| client_id.clone());
                Some(OidcConfig {
                    issuer_url,
                    client_id,
                    audience,
                })
            }
            None if environment != Environment::Development => {
                return Err(env.invalid("OIDC_ISSUER_URL", "is required outside development"));
            }
            None => None,
        };

        let jwt = JwtConfig {
            tenant_claim: env.claim_name("JWT_TENANT_CLAIM_NAME", "tenant_id")?,
            roles_claim: env.claim_name("JWT_ROLES_CLAIM_NAME", "roles")?,
            max_lifetime: Duration::from_secs(
                60 * env.bounded("JWT_MAX_LIFETIME_MINUTES", 60, 1, 24 * 60)?,
            ),
            jwks_cache_ttl: Duration::from_secs(env.bounded(
                "JWKS_CACHE_TTL_SECONDS",
                3600,
                60,
                86_400,
            )?),
            allowed_algorithms: env.algorithms("JWT_ALLOWED_ALGORITHMS")?,
            leeway: Duration::from_secs(env.bounded("JWT_LEEWAY_SECONDS", 30, 0, 300)?),
            unknown_kid_cooldown: Duration::from_secs(env.bounded(
                "JWKS_UNKNOWN_KID_COOLDOWN_SECONDS",
                30,
                1,
                3600,
            )?),
            audience_mode: match env.text("OIDC_AUDIENCE_MODE")?.as_deref() {
                None | Some("aud") => AudienceMode::Aud,
                Some("cognito") => AudienceMode::CognitoClientId,
                Some(_) => return Err(env.invalid("OIDC_AUDIENCE_MODE", "must be aud or cognito")),
            },
        };

        let secrets = match env.text("AWS_SECRETS_MANAGER_SECRET_ID")? {
            Some(secret_id) => {
                let refresh = env.bounded("SECRETS_REFRESH_SECONDS", 300, 1, 86_400)?;
                let stale = env.bounded(
                    "SECRETS_STALE_AFTER_SECONDS",
                    (refresh * 3).max(900),
                    1,
                    7 * 86_400,
                )?;
                if stale <= refresh {
                    return Err(env.invalid(
                        "SECRETS_STALE_AFTER_SECONDS",
                        "must be longer than SECRETS_REFRESH_SECONDS",
                    ));
                }
                Some(SecretsConfig {
                    secret_id,
                    region: env.text("AWS_REGION")?,
                    refresh_every: Duration::from_secs(refresh),
                    stale_after: Duration::from_secs(stale),
                    startup_retry: Duration::from_secs(env.bounded(
                        "SECRETS_STARTUP_RETRY_SECONDS",
                        30,
                        0,
                        600,
                    )?),
                })
            }
            None => None,
        };

        let database_url = env.secret("DATABASE_URL");
        if let Some(url) = &database_url {
            env.database_url("DATABASE_URL", url)?;
        }
        if database_url.is_none() && secrets.is_none() {
            return Err(env.invalid(
                "DATABASE_URL",
                "is required (or set AWS_SECRETS_MANAGER_SECRET_ID to a secret holding it)",
            ));
        }
        let database = DatabaseConfig {
            url: database_url,
            max_connections: env.bounded("DB_MAX_CONNECTIONS", 10, 1, 1000)? as u32,
            acquire_timeout: Duration::from_secs(env.bounded(
                "DB_ACQUIRE_TIMEOUT_SECONDS",
                3,
                1,
                60,
            )?),
            statement_timeout: Duration::from_secs(env.bounded(
                "DB_STATEMENT_TIMEOUT_SECONDS",
                10,
                1,
                3600,
            )?),
            run_migrations_on_start: env.flag("RUN_MIGRATIONS_ON_START", true)?,
            connect_retry: Duration::from_secs(env.bounded(
                "DB_CONNECT_RETRY_SECONDS",
                30,
                0,
                600,
            )?),
        };

        let docs_enabled = env.flag("DOCS_ENABLED", !production)?;
        let test_routes_enabled = env.flag("ENABLE_TEST_ROUTES", false)?;
        if test_routes_enabled && production {
            return Err(env.invalid("ENABLE_TEST_ROUTES", "must not be set in production"));
        }
        let dev_tenant_external_id = env.text("DEV_TENANT_EXTERNAL_ID")?;
        if let Some(id) = &dev_tenant_external_id {
            if environment != Environment::Development {
                return Err(env.invalid(
                    "DEV_TENANT_EXTERNAL_ID",
                    "is only allowed when ENVIRONMENT=development (tenants are never created automatically elsewhere)",
                ));
            }
            if !crate::auth::is_valid_tenant_id(id) {
                return Err(env.invalid(
                    "DEV_TENANT_EXTERNAL_ID",
                    "must be 1 to 128 characters of letters, digits and . _ : @ / -",
                ));
            }
        }

        let phi = haven_phi::PhiSettings::from_vars(vars, production, secrets.is_some())
            .map_err(|e| env.invalid(e.variable, e.problem))?;
        let config = Config {
            environment,
            log_level,
            bind_address,
            port,
            allowed_origins,
            trusted_proxies,
            oidc,
            oidc_client_secret: env.secret("OIDC_CLIENT_SECRET"),
            jwt,
            database,
            secrets,
            shutdown_grace: Duration::from_secs(env.bounded(
                "SHUTDOWN_GRACE_SECONDS",
                25,
                0,
                600,
            )?),
            // At least 2 s: readiness answers within 1.5 s and must not be cut off as a 504.
            request_timeout: Duration::from_secs(env.bounded(
                "REQUEST_TIMEOUT_SECONDS",
                30,
                2,
                600,
            )?),
            body_limit_bytes: env.bounded("MAX_BODY_BYTES", 1024 * 1024, 1024, 64 * 1024 * 1024)?
                as usize,
            docs_enabled,
            dev_tenant_external_id,
            environment_names: vars
                .iter()
                .filter(|(_, v)| !v.trim().is_empty())
                .map(|(k, _)| k.clone())
                .collect(),
            test_routes_enabled,
            limits: limits::limits(&env)?,
            metrics: limits::metrics(&env, port)?,
            phi,
        };
        if let Some(settings) = config.auth_settings() {
            settings
                .validate()
                .map_err(|e| env.invalid(auth_variable(e.field), e.message))?;
        }
        Ok(config)
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// The token-validation settings, when an identity provider is configured.
    pub fn auth_settings(&self) -> Option<AuthSettings> {
        let oidc = self.oidc.as_ref()?;
        let mut settings = AuthSettings::new(oidc.issuer_url.clone(), oidc.client_id.clone());
        settings.audience = oidc.audience.clone();
        settings.tenant_claim = self.jwt.tenant_claim.clone();
        settings.roles_claim = self.jwt.roles_claim.clone();
        settings.max_lifetime = self.jwt.max_lifetime;
        settings.jwks_ttl = self.jwt.jwks_cache_ttl;
        settings.allowed_algorithms = self.jwt.allowed_algorithms.clone();
        settings.leeway = self.jwt.leeway;
        settings.unknown_kid_cooldown = self.jwt.unknown_kid_cooldown;
        settings.audience_mode = self.jwt.audience_mode;
        // A plain-http issuer is for a local identity provider; production refuses it above.
        settings.allow_insecure_http = !self.is_production();
        Some(settings)
    }
}

/// The variable behind an `AuthSettings` field, so a bad value is reported by its name.
fn auth_variable(field: &str) -> &'static str {
    match field {
        "issuer_url" => "OIDC_ISSUER_URL",
        "client_id" => "OIDC_CLIENT_ID",
        "audience" => "OIDC_AUDIENCE",
        "tenant_claim" => "JWT_TENANT_CLAIM_NAME",
        "roles_claim" => "JWT_ROLES_CLAIM_NAME",
        "max_lifetime" => "JWT_MAX_LIFETIME_MINUTES",
        "leeway" => "JWT_LEEWAY_SECONDS",
        "jwks_ttl" => "JWKS_CACHE_TTL_SECONDS",
        "unknown_kid_cooldown" => "JWKS_UNKNOWN_KID_COOLDOWN_SECONDS",
        "allowed_algorithms" => "JWT_ALLOWED_ALGORITHMS",
        _ => "OIDC_ISSUER_URL",
    }
}

#[cfg(test)]
mod tests;
