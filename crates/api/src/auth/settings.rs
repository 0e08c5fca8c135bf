//! The identity-provider section of the configuration: parsed once by the config module straight
//! into [`AuthSettings`]; every problem names the variable it comes from.

use std::net::IpAddr;
use std::time::Duration;

use jsonwebtoken::{Algorithm, AlgorithmFamily};
use url::Url;

/// The most accepted tokens a process may remember (about 200 bytes each: 200 MB).
pub const MAX_ACCEPTED_TOKENS: usize = 1_000_000;

pub use super::login_settings::{AudienceParam, LoginSettings};

/// How the token's intended audience is checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AudienceMode {
    /// The `aud` claim (string or array) must be present and contain [`AuthSettings::audience`].
    #[default]
    Aud,
    /// Amazon Cognito access tokens carry no `aud`: accept a token whose `client_id` equals
    /// [`AuthSettings::audience`] and whose `token_use` is `access`. If such a token does carry
    /// an `aud`, it must still contain the audience.
    CognitoClientId,
}

/// Everything the auth module needs to know. Build it with [`AuthSettings::new`] (which fills
/// the defaults), override fields, then call [`AuthSettings::validate`] once at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSettings {
    /// The issuer, compared byte for byte with the discovery document and every token's `iss`
    /// (a trailing slash is significant).
    pub issuer_url: String,
    /// This application's OAuth client id (login flow; ID tokens must be issued to it).
    pub client_id: String,
    /// The audience access tokens must be issued to. Defaults to the client id.
    pub audience: String,
    /// Signature algorithms accepted. Default RS256 and ES256; HMAC (HS*) is never allowed and
    /// `none` cannot even be expressed.
    pub allowed_algorithms: Vec<Algorithm>,
    /// Name of the claim carrying the tenant's external id (any JSON key: `custom:tenant_id`,
    /// `https://example.com/tenant` work).
    pub tenant_claim: String,
    /// Name of the claim carrying the roles (array of strings or a space-separated string;
    /// `cognito:groups` works).
    pub roles_claim: String,
    /// Longest accepted `exp - iat`.
    pub max_lifetime: Duration,
    /// Clock skew allowed on `exp`, `nbf` and `iat` (at most 5 minutes).
    pub leeway: Duration,
    /// Longest time fetched signing keys are used before the next request refetches them
    /// (shorter when the key set's `Cache-Control: max-age` says so). Also the bound on how long
    /// a key removed from the key set stays accepted.
    pub jwks_ttl: Duration,
    /// At most one JWKS fetch per this period for the whole process when a token names an
    /// unknown `kid` (or a refresh failed).
    pub unknown_kid_cooldown: Duration,
    /// How the audience is checked.
    pub audience_mode: AudienceMode,
    /// How many accepted tokens each process remembers, so that a frontend's repeated token is
    /// not verified again (`validate.rs`); 0 verifies every token in full.
    pub accepted_tokens: usize,
    /// Longest accepted compact token, in bytes.
    pub max_token_bytes: usize,
    /// Time limit for every request to the identity provider.
    pub http_timeout: Duration,
    /// Largest accepted response body from the identity provider (discovery, JWKS, token).
    pub jwks_max_bytes: usize,
    /// Allow an `http://` issuer that is not on a loopback address (development only; keys
    /// fetched over plain HTTP can be forged by anyone on the path).
    pub allow_insecure_http: bool,
    /// The login flow's settings.
    pub login: LoginSettings,
}

/// One invalid setting: names its environment variable and says what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field} {message}")]
pub struct SettingsError {
    /// The variable at fault (`OIDC_ISSUER_URL`, `JWT_LEEWAY_SECONDS`, ...), or the field for
    /// settings no variable sets (`AuthSettings::http_timeout`).
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl SettingsError {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl AuthSettings {
    /// Settings with the defaults: audience = client id, RS256 + ES256, `tenant_id`, `roles`,
    /// 60 min lifetime, 30 s leeway, 1 h JWKS TTL, 30 s unknown-kid cooldown, 10,000 remembered
    /// accepted tokens, 8 KiB tokens, 5 s HTTP timeout, 256 KiB responses.
    pub fn new(issuer_url: impl Into<String>, client_id: impl Into<String>) -> Self {
        let client_id = client_id.into();
        Self {
            issuer_url: issuer_url.into(),
            audience: client_id.clone(),
            client_id,
            allowed_algorithms: vec![Algorithm::RS256, Algorithm::ES256],
            tenant_claim: "tenant_id".to_owned(),
            roles_claim: "roles".to_owned(),
            max_lifetime: Duration::from_secs(60 * 60),
            leeway: Duration::from_secs(30),
            jwks_ttl: Duration::from_secs(3600),
            unknown_kid_cooldown: Duration::from_secs(30),
            audience_mode: AudienceMode::Aud,
            accepted_tokens: 10_000,
            max_token_bytes: 8192,
            http_timeout: Duration::from_secs(5),
            jwks_max_bytes: 256 * 1024,
            allow_insecure_http: false,
            login: LoginSettings::default(),
        }
    }

    /// Checks every field; the first problem is returned.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.problems().into_iter().next().map_or(Ok(()), Err)
    }

    /// Every problem, one per variable (the config module reports them all in one run).
    pub fn problems(&self) -> Vec<SettingsError> {
        let mut problems = Vec::new();
        let mut check = |result: Result<(), SettingsError>| {
            if let Err(e) = result
                && !problems.iter().any(|p: &SettingsError| p.field == e.field)
            {
                problems.push(e);
            }
        };
        check(self.validate_issuer());
        // The audience is checked on its own only when it is not the client id by default.
        let audience = (self.audience != self.client_id).then_some(&self.audience);
        for (field, value) in [
            ("OIDC_CLIENT_ID", Some(&self.client_id)),
            ("OIDC_AUDIENCE", audience),
            ("JWT_TENANT_CLAIM_NAME", Some(&self.tenant_claim)),
            ("JWT_ROLES_CLAIM_NAME", Some(&self.roles_claim)),
        ] {
            let Some(value) = value else { continue };
            if value.trim().is_empty() || value.len() > 256 {
                check(Err(SettingsError::new(
                    field,
                    "must be 1 to 256 characters",
                )));
            }
        }
        if self.tenant_claim == self.roles_claim {
            check(Err(SettingsError::new(
                "JWT_ROLES_CLAIM_NAME",
                "must differ from JWT_TENANT_CLAIM_NAME",
            )));
        }
        check(self.validate_algorithms());
        let within = |field, value: Duration, min: Duration, max: Duration| {
            if value < min || value > max {
                Err(SettingsError::new(
                    field,
                    format!("must be between {min:?} and {max:?}"),
                ))
            } else {
                Ok(())
            }
        };
        let secs = Duration::from_secs;
        check(within(
            "JWT_MAX_LIFETIME_MINUTES",
            self.max_lifetime,
            secs(60),
            secs(24 * 3600),
        ));
        check(within(
            "JWT_LEEWAY_SECONDS",
            self.leeway,
            secs(0),
            secs(300),
        ));
        check(within(
            "JWKS_CACHE_TTL_SECONDS",
            self.jwks_ttl,
            secs(1),
            secs(7 * 24 * 3600),
        ));
        check(within(
            "JWKS_UNKNOWN_KID_COOLDOWN_SECONDS",
            self.unknown_kid_cooldown,
            Duration::from_millis(100),
            secs(3600),
        ));
        check(within(
            "AuthSettings::http_timeout",
            self.http_timeout,
            Duration::from_millis(100),
            secs(60),
        ));
        if self.accepted_tokens > MAX_ACCEPTED_TOKENS {
            check(Err(SettingsError::new(
                "JWT_ACCEPTED_TOKEN_CACHE_SIZE",
                format!("must be at most {MAX_ACCEPTED_TOKENS}"),
            )));
        }
        if !(512..=65_536).contains(&self.max_token_bytes) {
            check(Err(SettingsError::new(
                "AuthSettings::max_token_bytes",
                "must be between 512 and 65536",
            )));
        }
        if !(1024..=4 * 1024 * 1024).contains(&self.jwks_max_bytes) {
            check(Err(SettingsError::new(
                "AuthSettings::jwks_max_bytes",
                "must be between 1 KiB and 4 MiB",
            )));
        }
        check(self.validate_api_audience());
        check(self.validate_scopes());
        if let Some(prompt) = &self.login.prompt
            && !prompt
                .split(' ')
                .all(|p| matches!(p, "none" | "login" | "consent" | "select_account"))
        {
            check(Err(SettingsError::new(
                "OIDC_PROMPT",
                "must be space-separated values of none, login, consent, select_account",
            )));
        }
        problems
    }

    fn validate_api_audience(&self) -> Result<(), SettingsError> {
        let login = &self.login;
        if let Some(aud) = &login.api_audience
            && (aud.trim().is_empty() || aud.len() > 512 || aud.chars().any(char::is_whitespace))
        {
            return Err(SettingsError::new(
                "OIDC_API_AUDIENCE",
                "must be 1 to 512 characters without spaces",
            ));
        }
        if login.audience_param == AudienceParam::Resource
            && let Some(aud) = &login.api_audience
            && Url::parse(aud).map_or(true, |u| u.fragment().is_some())
        {
            return Err(SettingsError::new(
                "OIDC_API_AUDIENCE",
                "must be an absolute URI without a fragment when OIDC_AUDIENCE_PARAM=resource (RFC 8707)",
            ));
        }
        Ok(())
    }

    fn validate_scopes(&self) -> Result<(), SettingsError> {
        let login = &self.login;
        let bad_scope = |s: &String| {
            s.is_empty()
                || s.len() > 256
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        };
        if login.scopes.is_empty() || login.scopes.len() > 32 || login.scopes.iter().any(bad_scope)
        {
            return Err(SettingsError::new(
                "OIDC_SCOPES",
                "must be 1 to 32 space-separated scope tokens (RFC 6749 §3.3)",
            ));
        }
        Ok(())
    }

    fn validate_issuer(&self) -> Result<(), SettingsError> {
        let err = |m: &str| SettingsError::new("OIDC_ISSUER_URL", m);
        let url = Url::parse(&self.issuer_url).map_err(|e| err(&format!("is not a URL ({e})")))?;
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(err("must not have a query, fragment or user info"));
        }
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.allow_insecure_http || is_loopback(&url) => Ok(()),
            "http" => Err(err(
                "must use https (http is accepted only for loopback hosts)",
            )),
            _ => Err(err("must be an https URL")),
        }
    }

    fn validate_algorithms(&self) -> Result<(), SettingsError> {
        let field = "JWT_ALLOWED_ALGORITHMS";
        if self.allowed_algorithms.is_empty() {
            return Err(SettingsError::new(field, "must not be empty"));
        }
        match self
            .allowed_algorithms
            .iter()
            .find(|a| a.family() == AlgorithmFamily::Hmac)
        {
            Some(alg) => Err(SettingsError::new(
                field,
                format!("has {alg:?}, a shared-secret algorithm that is never accepted"),
            )),
            None => Ok(()),
        }
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
