//! `Oidc`: one issuer's settings, HTTP client, discovery state and key cache; start-up never
//! waits for (or fails on) the identity provider.

use std::sync::{Arc, Weak};
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::discovery::{self, OidcProvider};
use super::error::AuthError;
use super::http::HttpClient;
use super::jwks::JwksCache;
use super::keyset::KeySet;
use super::login::{self, LoginContext, LoginRequest, TokenResponse};
use super::login_state::{StateData, StateKey};
use super::ready::{Discovered, ReadySlot};
use super::settings::{AuthSettings, SettingsError};
use super::validate::TokenValidator;

/// First and longest pause between discovery attempts.
const DISCOVERY_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(250), Duration::from_secs(30));

/// The identity provider as Haven sees it. Share it as `Arc<Oidc>`.
pub struct Oidc {
    settings: Arc<AuthSettings>,
    http: HttpClient,
    ready: Arc<ReadySlot>,
    /// One validator, so every request shares its cache of accepted tokens.
    validator: TokenValidator,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.settings.issuer_url)
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

impl Oidc {
    /// Validates `settings`, builds the HTTP client and spawns discovery in the background
    /// (retried with capped exponential backoff and jitter until it succeeds). Fails only on
    /// bad settings or when called outside a Tokio runtime, never because the IdP is down:
    /// until discovery succeeds, validation answers `IdpUnavailable`.
    pub fn start(settings: AuthSettings) -> Result<Arc<Self>, SettingsError> {
        settings.validate()?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| SettingsError::new("runtime", "Oidc::start needs a Tokio runtime"))?;
        let http = HttpClient::new(settings.http_timeout, settings.jwks_max_bytes)
            .map_err(|e| SettingsError::new("OIDC_ISSUER_URL", format!("HTTP client: {e}")))?;
        let settings = Arc::new(settings);
        let ready = Arc::new(ReadySlot::new());
        let oidc = Arc::new(Self {
            validator: TokenValidator::new(Arc::clone(&settings), Arc::clone(&ready)),
            settings,
            http,
            ready,
        });
        runtime.spawn(discovery_loop(Arc::downgrade(&oidc)));
        Ok(oidc)
    }

    /// The settings in force.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// Whether discovery has succeeded (for readiness checks).
    pub fn is_ready(&self) -> bool {
        self.ready.is_ready()
    }

    /// Waits until discovery has succeeded or `timeout` passes; returns [`Self::is_ready`].
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        self.ready.wait(timeout).await
    }

    /// The discovered provider, once known.
    pub fn provider(&self) -> Option<Arc<OidcProvider>> {
        self.ready.get().ok().map(|d| Arc::clone(&d.provider))
    }

    /// The key cache, once discovery named the JWKS URI. Its
    /// [`force_refresh`](JwksCache::force_refresh) is the entry point for a cluster-wide
    /// "refetch the keys now" signal.
    pub fn jwks(&self) -> Option<Arc<JwksCache>> {
        self.ready.get().ok().map(|d| Arc::clone(&d.jwks))
    }

    /// JWKS fetch attempts so far (0 before discovery), for metrics.
    pub fn jwks_fetch_count(&self) -> u64 {
        self.ready.get().map_or(0, |d| d.jwks.fetch_count())
    }

    /// The bearer-token validator bound to this provider (clones share its cache of accepted
    /// tokens).
    pub fn validator(&self) -> TokenValidator {
        self.validator.clone()
    }

    /// Tokens answered from the validator's cache of accepted tokens, for metrics.
    pub fn token_cache_hits(&self) -> u64 {
        self.validator.repeats()
    }

    fn login_context<'a>(&'a self, ready: &'a Discovered) -> LoginContext<'a> {
        LoginContext {
            settings: &self.settings,
            provider: &ready.provider,
            jwks: &ready.jwks,
            http: &self.http,
        }
    }

    /// Starts a login (see [`LoginContext::start`]).
    pub fn login(
        &self,
        client_secret: &SecretString,
        redirect_uri: &Url,
        key: &StateKey,
    ) -> Result<LoginRequest, AuthError> {
        let ready = self.ready.get()?;
        self.login_context(ready)
            .start(client_secret, redirect_uri, key)
    }

    /// Exchanges `code` using the verifier, nonce and redirect URI from the opened state; the
    /// ID token is verified.
    pub async fn exchange_code(
        &self,
        client_secret: &SecretString,
        code: &str,
        state: &StateData,
    ) -> Result<TokenResponse, AuthError> {
        let ready = self.ready.get()?;
        self.login_context(ready)
            .exchange_code(client_secret, code, state)
            .await
    }

    /// Exchanges a refresh token for new tokens.
    pub async fn refresh(
        &self,
        client_secret: &SecretString,
        refresh_token: &str,
    ) -> Result<TokenResponse, AuthError> {
        let ready = self.ready.get()?;
        self.login_context(ready)
            .refresh(client_secret, refresh_token)
            .await
    }

    /// The RP-initiated logout URL (`Ok(None)`: the provider has no end-session endpoint).
    pub fn logout_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect_uri: &Url,
    ) -> Result<Option<Url>, AuthError> {
        let ready = self.ready.get()?;
        Ok(login::logout_url(
            &ready.provider,
            id_token_hint,
            post_logout_redirect_uri,
            &self.settings.client_id,
        ))
    }

    fn install(&self, provider: OidcProvider, keys: KeySet) {
        let jwks = Arc::new(JwksCache::new(
            self.http.clone(),
            provider.jwks_uri.clone(),
            self.settings.jwks_ttl,
            self.settings.unknown_kid_cooldown,
        ));
        jwks.seed(keys);
        self.ready.set(Discovered {
            provider: Arc::new(provider),
            jwks,
        });
    }
}

/// Retries discovery until it succeeds or the `Oidc` is dropped.
async fn discovery_loop(oidc: Weak<Oidc>) {
    let (mut delay, max) = DISCOVERY_BACKOFF;
    let mut attempt: u32 = 0;
    loop {
        let Some(this) = oidc.upgrade() else { return };
        attempt += 1;
        let outcome = discovery::discover(
            &this.http,
            &this.settings.issuer_url,
            this.settings.allow_insecure_http,
        )
        .await;
        match outcome {
            Ok((provider, keys)) => {
                tracing::info!(
                    issuer = %provider.issuer,
                    keys = keys.len(),
                    attempt,
                    "OIDC discovery succeeded"
                );
                this.install(provider, keys);
                return;
            }
            Err(error) => {
                tracing::warn!(
                    issuer = %this.settings.issuer_url,
                    %error,
                    attempt,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "OIDC discovery failed; retrying"
                );
            }
        }
        drop(this);
        let jitter = delay.mul_f64(rand::random::<f64>() * 0.25);
        tokio::time::sleep(delay + jitter).await;
        delay = (delay * 2).min(max);
    }
}
