//! Good and bad environments: every bad one names its variable.

use std::collections::HashMap;

use secrecy::ExposeSecret;

use super::*;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    let mut map: HashMap<String, String> = [("DATABASE_URL", "postgres://u:p@localhost/db")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for (k, v) in pairs {
        map.insert((*k).to_owned(), (*v).to_owned());
    }
    map
}

const PRODUCTION: &[(&str, &str)] = &[
    ("ENVIRONMENT", "production"),
    ("OIDC_ISSUER_URL", "https://idp.example.com/"),
    ("OIDC_CLIENT_ID", "client-1"),
    ("ALLOWED_ORIGINS", "https://app.example.com"),
];

fn with(base: &[(&str, &str)], extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut all: Vec<(&str, &str)> = base.to_vec();
    all.extend_from_slice(extra);
    vars(&all)
}

#[test]
fn development_defaults_need_only_a_database_url() {
    let config = Config::from_map(&vars(&[])).unwrap();
    assert_eq!(config.environment, Environment::Development);
    assert_eq!(config.port, 8000);
    assert_eq!(config.log_level, "info");
    assert!(config.docs_enabled);
    assert!(config.auth.is_none());
    assert_eq!(config.shutdown_grace, Duration::from_secs(25));
}

#[test]
fn a_good_production_environment_is_accepted_with_its_values() {
    let config = Config::from_map(&with(
        PRODUCTION,
        &[
            ("PORT", "9000"),
            ("LOG_LEVEL", "INFO"),
            ("JWT_TENANT_CLAIM_NAME", "custom:tenant_id"),
            ("JWT_ACCEPTED_TOKEN_CACHE_SIZE", "0"),
        ],
    ))
    .unwrap();
    assert!(config.is_production());
    assert_eq!(config.port, 9000);
    assert_eq!(config.log_level, "info");
    assert!(
        !config.docs_enabled,
        "docs are off in production unless asked for"
    );
    let auth = config.auth.unwrap();
    assert_eq!(
        auth.issuer_url, "https://idp.example.com/",
        "the issuer is kept exactly"
    );
    assert_eq!(
        auth.audience, "client-1",
        "the audience defaults to the client id"
    );
    assert_eq!(auth.tenant_claim, "custom:tenant_id");
    assert_eq!(auth.roles_claim, "roles");
    assert_eq!(auth.max_lifetime, Duration::from_secs(3600));
    assert_eq!(auth.accepted_tokens, 0, "0: every token verified in full");
    assert!(!auth.allow_insecure_http);
    assert_eq!(
        auth.login.requested_scopes(),
        ["openid", "profile", "email"]
    );
    assert_eq!(
        config.allowed_origins,
        vec!["https://app.example.com".to_owned()]
    );
    assert_eq!(
        config.database.url.unwrap().expose_secret(),
        "postgres://u:p@localhost/db"
    );
}

#[test]
fn bad_environments_stop_with_the_variable_named() {
    let cases: &[(&str, HashMap<String, String>)] = &[
        ("ENVIRONMENT", vars(&[("ENVIRONMENT", "prodution")])),
        ("PORT", vars(&[("PORT", "eighty")])),
        ("PORT", vars(&[("PORT", "70000")])),
        ("PORT", vars(&[("PORT", "0")])),
        ("LOG_LEVEL", vars(&[("LOG_LEVEL", "loud=[")])),
        ("ALLOWED_ORIGINS", vars(&[("ALLOWED_ORIGINS", "not a url")])),
        (
            "ALLOWED_ORIGINS",
            vars(&[("ALLOWED_ORIGINS", "https://app.example.com/path")]),
        ),
        (
            "JWT_MAX_LIFETIME_MINUTES",
            vars(&[("JWT_MAX_LIFETIME_MINUTES", "0")]),
        ),
        (
            "JWT_MAX_LIFETIME_MINUTES",
            vars(&[("JWT_MAX_LIFETIME_MINUTES", "-5")]),
        ),
        (
            "JWKS_CACHE_TTL_SECONDS",
            vars(&[("JWKS_CACHE_TTL_SECONDS", "soon")]),
        ),
        (
            "JWT_ACCEPTED_TOKEN_CACHE_SIZE",
            vars(&[("JWT_ACCEPTED_TOKEN_CACHE_SIZE", "1000001")]),
        ),
        (
            "OIDC_CLIENT_ID",
            vars(&[("OIDC_ISSUER_URL", "https://idp.example.com")]),
        ),
        (
            "OIDC_ISSUER_URL",
            vars(&[
                ("OIDC_ISSUER_URL", "idp.example.com"),
                ("OIDC_CLIENT_ID", "c"),
            ]),
        ),
        ("DB_MAX_CONNECTIONS", vars(&[("DB_MAX_CONNECTIONS", "0")])),
        ("DOCS_ENABLED", vars(&[("DOCS_ENABLED", "maybe")])),
        (
            "SHUTDOWN_GRACE_SECONDS",
            vars(&[("SHUTDOWN_GRACE_SECONDS", "1.5")]),
        ),
        ("DATABASE_URL", {
            let mut v = vars(&[]);
            v.remove("DATABASE_URL");
            v
        }),
    ];
    for (variable, env) in cases {
        let error = Config::from_map(env).expect_err(variable);
        assert_eq!(error.variables(), [*variable], "{error}");
        assert!(
            error.to_string().contains(variable),
            "the line names {variable}: {error}"
        );
        assert!(!error.to_string().contains('\n'), "one line: {error}");
    }
}

#[test]
fn production_refuses_wildcard_and_plain_http_origins_missing_oidc_and_test_routes() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("ALLOWED_ORIGINS", &[("ALLOWED_ORIGINS", "*")]),
        (
            "ALLOWED_ORIGINS",
            &[("ALLOWED_ORIGINS", "https://a.example.com, *")],
        ),
        (
            "ALLOWED_ORIGINS",
            &[("ALLOWED_ORIGINS", "http://app.example.com")],
        ),
        (
            "OIDC_ISSUER_URL",
            &[("OIDC_ISSUER_URL", "http://idp.example.com")],
        ),
        ("OIDC_ISSUER_URL", &[("OIDC_ISSUER_URL", "")]),
        ("ENABLE_TEST_ROUTES", &[("ENABLE_TEST_ROUTES", "true")]),
    ];
    for (variable, extra) in cases {
        let error = Config::from_map(&with(PRODUCTION, extra)).expect_err(variable);
        assert_eq!(error.variables(), [*variable], "{error}");
    }
    // The same values are fine in development.
    let dev = Config::from_map(&vars(&[("ALLOWED_ORIGINS", "http://localhost:3000, *")])).unwrap();
    assert_eq!(
        dev.allowed_origins,
        vec!["http://localhost:3000".to_owned(), "*".to_owned()]
    );
}

#[test]
fn a_secret_id_may_supply_the_database_url() {
    let mut env = with(
        PRODUCTION,
        &[
            ("AWS_SECRETS_MANAGER_SECRET_ID", "haven/prod"),
            ("AWS_REGION", "eu-west-1"),
        ],
    );
    env.remove("DATABASE_URL");
    let config = Config::from_map(&env).unwrap();
    assert!(config.database.url.is_none());
    let secrets = config.secrets.unwrap();
    assert_eq!(secrets.secret_id, "haven/prod");
    assert_eq!(secrets.region.as_deref(), Some("eu-west-1"));
}

#[test]
fn an_invalid_value_is_not_echoed_in_the_error() {
    let error = Config::from_map(&vars(&[("PORT", "s3cr3t-value")])).unwrap_err();
    assert!(!error.to_string().contains("s3cr3t-value"), "{error}");
}

#[test]
fn debug_output_of_the_config_masks_secrets() {
    let config = Config::from_map(&vars(&[("OIDC_CLIENT_SECRET", "client-secret-xyz")])).unwrap();
    let printed = format!("{config:?}");
    assert!(!printed.contains("client-secret-xyz"), "{printed}");
    assert!(!printed.contains("u:p@localhost"), "{printed}");
}

#[test]
fn a_malformed_database_url_is_refused_at_start_without_echoing_it() {
    for bad in [
        "not a url",
        "mysql://u:hunter2@h/db",
        "postgres://u:hunter2@[::1:5432/db",
    ] {
        let error = Config::from_map(&vars(&[("DATABASE_URL", bad)])).unwrap_err();
        assert_eq!(error.variables(), ["DATABASE_URL"], "{bad}: {error}");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}

#[test]
fn production_refuses_the_local_phi_master_key_unless_explicitly_allowed() {
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let mut vars = with(PRODUCTION, &[]);
    vars.insert("PHI_ENCRYPTION".into(), "local".into());
    vars.insert("PHI_LOCAL_MASTER_KEY".into(), key.into());
    let error = Config::from_map(&vars).unwrap_err();
    assert_eq!(error.variables(), ["PHI_ENCRYPTION"]);
    assert!(!error.to_string().contains(key));
    vars.insert("PHI_ALLOW_LOCAL_MASTER_KEY".into(), "true".into());
    assert!(Config::from_map(&vars).is_ok());
    vars.insert("PHI_ENCRYPTION".into(), "kms".into());
    vars.insert("PHI_KEY_CACHE_TTL_SECONDS".into(), "1".into());
    let error = Config::from_map(&vars).unwrap_err();
    assert_eq!(
        error.variables(),
        ["PHI_KMS_KEY_ID", "PHI_KEY_CACHE_TTL_SECONDS"],
        "every PHI mistake in one run"
    );
}

#[test]
fn every_mistake_of_a_production_environment_is_reported_in_one_run_one_line_each() {
    let error = Config::from_map(&with(
        PRODUCTION,
        &[
            ("ALLOWED_ORIGINS", "*"),
            ("JWT_LEEWAY_SECONDS", "900"),
            ("OIDC_AUDIENCE_PARAM", "header"),
        ],
    ))
    .unwrap_err();
    assert_eq!(
        error.variables(),
        [
            "ALLOWED_ORIGINS",
            "JWT_LEEWAY_SECONDS",
            "OIDC_AUDIENCE_PARAM"
        ]
    );
    assert_eq!(error.to_string().lines().count(), 3, "{error}");
}

#[test]
fn login_settings_are_read_with_the_api_audience_as_the_default_audience() {
    let config = Config::from_map(&with(
        PRODUCTION,
        &[
            ("OIDC_SCOPES", "openid email api.read"),
            ("OIDC_API_AUDIENCE", "https://api.example.com"),
            ("OIDC_REFRESH_TOKENS", "true"),
        ],
    ))
    .unwrap();
    let auth = config.auth.unwrap();
    assert_eq!(auth.audience, "https://api.example.com");
    assert_eq!(
        auth.login.audience_param,
        crate::auth::AudienceParam::Resource
    );
    assert_eq!(
        auth.login.requested_scopes(),
        ["openid", "email", "api.read", "offline_access"]
    );
    let error = Config::from_map(&with(
        PRODUCTION,
        &[("OIDC_API_AUDIENCE", "my api"), ("OIDC_SCOPES", "a\"b")],
    ))
    .unwrap_err();
    assert_eq!(error.variables(), ["OIDC_API_AUDIENCE", "OIDC_SCOPES"]);
}

#[test]
fn operator_commands_need_only_the_database_url() {
    let only_database = vars(&[("ENVIRONMENT", "production")]);
    let config = OperatorConfig::from_map(&only_database).unwrap();
    assert!(config.database.url.is_some() && config.secrets.is_none());
    assert!(
        Config::from_map(&only_database).is_err(),
        "serve still needs the rest"
    );
    let mut none = only_database;
    none.remove("DATABASE_URL");
    let error = OperatorConfig::from_map(&none).unwrap_err();
    assert_eq!(error.variables(), ["DATABASE_URL"]);
}
