//! The sections that more than one command reads: the environment, the identity provider
//! (straight into `AuthSettings`), the database, the Secrets Manager secret and PHI encryption.

use std::collections::HashMap;
use std::time::Duration;

use crate::auth::{AudienceMode, AudienceParam, AuthSettings, LoginSettings, MAX_ACCEPTED_TOKENS};

use super::env::Env;
use super::{DatabaseConfig, Environment, SecretsConfig};

/// OIDC_* and JWT_*: `None` in development without OIDC_ISSUER_URL (the JWT_* values are still
/// checked). Every problem found by `AuthSettings::problems` is reported under its variable.
pub(super) fn auth(env: &Env, environment: Environment) -> Option<AuthSettings> {
    let production = environment == Environment::Production;
    let issuer_url = env.text("OIDC_ISSUER_URL");
    match &issuer_url {
        Some(issuer_url) => env.http_url("OIDC_ISSUER_URL", issuer_url, production),
        None if environment != Environment::Development => {
            env.invalid("OIDC_ISSUER_URL", "is required outside development");
        }
        None => {}
    }
    let client_id = match issuer_url {
        Some(_) => env.required("OIDC_CLIENT_ID"),
        None => env.text("OIDC_CLIENT_ID").unwrap_or_default(),
    };
    let mut settings = AuthSettings::new(issuer_url.clone().unwrap_or_default(), client_id.clone());
    let api_audience = env.text("OIDC_API_AUDIENCE");
    settings.audience = env
        .text("OIDC_AUDIENCE")
        .or_else(|| api_audience.clone())
        .unwrap_or(client_id);
    settings.tenant_claim = env.claim_name("JWT_TENANT_CLAIM_NAME", "tenant_id");
    settings.roles_claim = env.claim_name("JWT_ROLES_CLAIM_NAME", "roles");
    settings.max_lifetime =
        Duration::from_secs(60 * env.bounded("JWT_MAX_LIFETIME_MINUTES", 60, 1, 24 * 60));
    // The longest time a key removed from the key set stays accepted: short values are fine,
    // an unchanged key set costs a 304 thanks to its ETag.
    settings.jwks_ttl = Duration::from_secs(env.bounded("JWKS_CACHE_TTL_SECONDS", 3600, 5, 86_400));
    settings.allowed_algorithms = env.algorithms("JWT_ALLOWED_ALGORITHMS");
    settings.leeway = Duration::from_secs(env.bounded("JWT_LEEWAY_SECONDS", 30, 0, 300));
    // 0: every token verified in full (its signature checked on every request).
    settings.accepted_tokens = usize::try_from(env.bounded(
        "JWT_ACCEPTED_TOKEN_CACHE_SIZE",
        10_000,
        0,
        u64::try_from(MAX_ACCEPTED_TOKENS).unwrap_or(u64::MAX),
    ))
    .unwrap_or(MAX_ACCEPTED_TOKENS);
    settings.unknown_kid_cooldown =
        Duration::from_secs(env.bounded("JWKS_UNKNOWN_KID_COOLDOWN_SECONDS", 30, 1, 3600));
    settings.audience_mode = env.choice(
        "OIDC_AUDIENCE_MODE",
        AudienceMode::Aud,
        &[
            ("aud", AudienceMode::Aud),
            ("cognito", AudienceMode::CognitoClientId),
        ],
    );
    settings.login = LoginSettings {
        scopes: env.text("OIDC_SCOPES").map_or_else(
            || LoginSettings::default().scopes,
            |raw| {
                raw.split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            },
        ),
        audience_param: env.choice(
            "OIDC_AUDIENCE_PARAM",
            AudienceParam::Resource,
            &[
                ("resource", AudienceParam::Resource),
                ("audience", AudienceParam::Audience),
                ("none", AudienceParam::None),
            ],
        ),
        api_audience,
        refresh_tokens: env.flag("OIDC_REFRESH_TOKENS", false),
        prompt: env.text("OIDC_PROMPT"),
    };
    // A plain-http issuer is for a local identity provider; production refuses it above.
    settings.allow_insecure_http = !production;
    issuer_url.as_ref()?;
    for problem in settings.problems() {
        env.invalid(problem.field, problem.message);
    }
    Some(settings)
}

/// AWS_SECRETS_MANAGER_SECRET_ID and its timings; `None` when no secret is configured.
pub(super) fn secrets(env: &Env) -> Option<SecretsConfig> {
    let secret_id = env.text("AWS_SECRETS_MANAGER_SECRET_ID")?;
    let refresh = env.bounded("SECRETS_REFRESH_SECONDS", 300, 1, 86_400);
    let stale = env.bounded(
        "SECRETS_STALE_AFTER_SECONDS",
        (refresh * 3).max(900),
        1,
        7 * 86_400,
    );
    if stale <= refresh {
        env.invalid(
            "SECRETS_STALE_AFTER_SECONDS",
            "must be longer than SECRETS_REFRESH_SECONDS",
        );
    }
    Some(SecretsConfig {
        secret_id,
        region: env.text("AWS_REGION"),
        refresh_every: Duration::from_secs(refresh),
        stale_after: Duration::from_secs(stale),
        startup_retry: Duration::from_secs(env.bounded(
            "SECRETS_STARTUP_RETRY_SECONDS",
            30,
            0,
            600,
        )),
    })
}

/// DATABASE_URL (required unless a secret may supply it) and the pool settings.
pub(super) fn database(env: &Env, secret_configured: bool) -> DatabaseConfig {
    let url = env.secret("DATABASE_URL");
    match &url {
        Some(url) => env.database_url("DATABASE_URL", url),
        None if !secret_configured => env.invalid(
            "DATABASE_URL",
            "is required (or set AWS_SECRETS_MANAGER_SECRET_ID to a secret holding it)",
        ),
        None => {}
    }
    let max_connections = env.bounded("DB_MAX_CONNECTIONS", 10, 1, 1000);
    DatabaseConfig {
        url,
        max_connections: max_connections as u32,
        // Half the pool by default: one tenant can never hold every connection.
        tenant_max_connections: env.bounded(
            "TENANT_MAX_CONNECTIONS",
            (max_connections / 2).max(1),
            1,
            max_connections,
        ) as u32,
        tenant_max_exports: env.bounded("TENANT_MAX_EXPORTS", 1, 1, 100) as u32,
        acquire_timeout: Duration::from_secs(env.bounded("DB_ACQUIRE_TIMEOUT_SECONDS", 3, 1, 60)),
        statement_timeout: Duration::from_secs(env.bounded(
            "DB_STATEMENT_TIMEOUT_SECONDS",
            10,
            1,
            3600,
        )),
        run_migrations_on_start: env.flag("RUN_MIGRATIONS_ON_START", true),
        connect_retry: Duration::from_secs(env.bounded("DB_CONNECT_RETRY_SECONDS", 30, 0, 600)),
    }
}

/// ENVIRONMENT: development (the default), staging or production.
pub(super) fn environment(env: &Env) -> Environment {
    env.choice(
        "ENVIRONMENT",
        Environment::Development,
        &[
            ("development", Environment::Development),
            ("dev", Environment::Development),
            ("staging", Environment::Staging),
            ("production", Environment::Production),
            ("prod", Environment::Production),
        ],
    )
}

/// PHI_* (parsed by haven-phi); each bad variable is recorded like any other.
pub(super) fn phi(
    env: &Env,
    vars: &HashMap<String, String>,
    production: bool,
    secret_configured: bool,
) -> haven_phi::PhiSettings {
    haven_phi::PhiSettings::from_vars(vars, production, secret_configured).unwrap_or_else(
        |errors| {
            for error in errors {
                env.invalid(error.variable, error.problem);
            }
            haven_phi::PhiSettings::default()
        },
    )
}
