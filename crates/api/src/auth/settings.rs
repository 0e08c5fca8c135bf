//! Settings for OIDC bearer authentication: a plain struct the config module fills and validates.

use std::net::IpAddr;
use std::time::Duration;

use jsonwebtoken::{Algorithm, AlgorithmFamily};
use url::Url;

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
    /// How long fetched signing keys are used before they are refreshed in the background.
    pub jwks_ttl: Duration,
    /// At most one JWKS fetch per this period for the whole process when a token names an
    /// unknown `kid` (or a refresh failed).
    pub unknown_kid_cooldown: Duration,
    /// How the audience is checked.
    pub audience_mode: AudienceMode,
    /// Longest accepted compact token, in bytes.
    pub max_token_bytes: usize,
    /// Time limit for every request to the identity provider.
    pub http_timeout: Duration,
    /// Largest accepted response body from the identity provider (discovery, JWKS, token).
    pub jwks_max_bytes: usize,
    /// Allow an `http://` issuer that is not on a loopback address (development only; keys
    /// fetched over plain HTTP can be forged by anyone on the path).
    pub allow_insecure_http: bool,
}

/// One invalid setting: names the field and says what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SettingsError {
    /// The [`AuthSettings`] field at fault (the config module maps it to its variable name).
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
    /// 60 min lifetime, 30 s leeway, 1 h JWKS TTL, 30 s unknown-kid cooldown, 8 KiB tokens,
    /// 5 s HTTP timeout, 256 KiB responses.
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
            max_token_bytes: 8192,
            http_timeout: Duration::from_secs(5),
            jwks_max_bytes: 256 * 1024,
            allow_insecure_http: false,
        }
    }

    /// Checks every field; the first bad one is returned.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.validate_issuer()?;
        for (field, value) in [
            ("client_id", &self.client_id),
            ("audience", &self.audience),
            ("tenant_claim", &self.tenant_claim),
            ("roles_claim", &self.roles_claim),
        ] {
            if value.trim().is_empty() || value.len() > 256 {
                return Err(SettingsError::new(field, "must be 1 to 256 characters"));
            }
        }
        if self.tenant_claim == self.roles_claim {
            return Err(SettingsError::new(
                "roles_claim",
                "must differ from tenant_claim",
            ));
        }
        self.validate_algorithms()?;
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
        within("max_lifetime", self.max_lifetime, secs(60), secs(24 * 3600))?;
        within("leeway", self.leeway, secs(0), secs(300))?;
        within("jwks_ttl", self.jwks_ttl, secs(1), secs(7 * 24 * 3600))?;
        within(
            "unknown_kid_cooldown",
            self.unknown_kid_cooldown,
            Duration::from_millis(100),
            secs(3600),
        )?;
        within(
            "http_timeout",
            self.http_timeout,
            Duration::from_millis(100),
            secs(60),
        )?;
        if !(512..=65_536).contains(&self.max_token_bytes) {
            return Err(SettingsError::new(
                "max_token_bytes",
                "must be between 512 and 65536",
            ));
        }
        if !(1024..=4 * 1024 * 1024).contains(&self.jwks_max_bytes) {
            return Err(SettingsError::new(
                "jwks_max_bytes",
                "must be between 1 KiB and 4 MiB",
            ));
        }
        Ok(())
    }

    fn validate_issuer(&self) -> Result<(), SettingsError> {
        let err = |m: &str| SettingsError::new("issuer_url", m);
        let url = Url::parse(&self.issuer_url).map_err(|e| err(&format!("not a URL ({e})")))?;
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
        if self.allowed_algorithms.is_empty() {
            return Err(SettingsError::new(
                "allowed_algorithms",
                "must not be empty",
            ));
        }
        match self
            .allowed_algorithms
            .iter()
            .find(|a| a.family() == AlgorithmFamily::Hmac)
        {
            Some(alg) => Err(SettingsError::new(
                "allowed_algorithms",
                format!("{alg:?} is a shared-secret algorithm and is never accepted"),
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
mod tests {
    use super::*;

    fn ok() -> AuthSettings {
        AuthSettings::new("https://idp.example.com/realms/haven", "haven")
    }

    #[test]
    fn defaults_are_valid_and_audience_defaults_to_client_id() {
        let s = ok();
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.audience, "haven");
        assert_eq!(
            s.allowed_algorithms,
            vec![Algorithm::RS256, Algorithm::ES256]
        );
    }

    #[test]
    fn hmac_algorithms_are_refused() {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let mut s = ok();
            s.allowed_algorithms.push(alg);
            assert_eq!(s.validate().map_err(|e| e.field), Err("allowed_algorithms"));
        }
        let mut s = ok();
        s.allowed_algorithms.clear();
        assert!(s.validate().is_err());
    }

    #[test]
    fn plain_http_issuer_is_refused_unless_loopback_or_allowed() {
        let mut s = ok();
        s.issuer_url = "http://idp.example.com".into();
        assert_eq!(s.validate().map_err(|e| e.field), Err("issuer_url"));
        s.allow_insecure_http = true;
        assert_eq!(s.validate(), Ok(()));
        let s = AuthSettings::new("http://127.0.0.1:8080", "haven");
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn leeway_over_five_minutes_is_refused() {
        let mut s = ok();
        s.leeway = Duration::from_secs(301);
        assert_eq!(s.validate().map_err(|e| e.field), Err("leeway"));
    }
}
