//! `Oidc`: one issuer's settings, HTTP client, discovery state and key cache; start-up never
//! waits for (or fails on) the identity provider.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use secrecy::SecretString;
use tokio::sync::watch;
use url::Url;

use super::discovery::{self, OidcProvider};
use super::error::AuthError;
use super::http::HttpClient;
use super::jwks::JwksCache;
use super::login::{self, IdTokenClaims, LoginRequest, TokenResponse};
use super::pkce::{StateData, StateKey};
use super::settings::{AuthSettings, SettingsError};
use super::validate::TokenValidator;

/// First and longest pause between discovery attempts.
const DISCOVERY_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(250), Duration::from_secs(30));

struct Ready {
    provider: Arc<OidcProvider>,
    jwks: Arc<JwksCache>,
}

/// The identity provider as Haven sees it. Share it as `Arc<Oidc>`.
pub struct Oidc {
    settings: AuthSettings,
    http: HttpClient,
    ready: OnceLock<Ready>,
    ready_tx: watch::Sender<bool>,
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
            .map_err(|e| SettingsError::new("http_timeout", format!("HTTP client: {e}")))?;
        let (ready_tx, _) = watch::channel(false);
        let oidc = Arc::new(Self {
            settings,
            http,
            ready: OnceLock::new(),
            ready_tx,
        });
        runtime.spawn(discovery_loop(Arc::downgrade(&oidc)));
        Ok(oidc)
    }

    /// The settings in force.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// The HTTP client used for the IdP.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// Whether discovery has succeeded (for readiness checks).
    pub fn is_ready(&self) -> bool {
        self.ready.get().is_some()
    }

    /// Waits until discovery has succeeded or `timeout` passes; returns [`Self::is_ready`].
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut rx = self.ready_tx.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|ready| *ready)).await;
        self.is_ready()
    }

    /// The discovered provider, once known.
    pub fn provider(&self) -> Option<Arc<OidcProvider>> {
        self.ready.get().map(|r| Arc::clone(&r.provider))
    }

    /// The key cache, once discovery named the JWKS URI.
    pub fn jwks(&self) -> Option<Arc<JwksCache>> {
        self.ready.get().map(|r| Arc::clone(&r.jwks))
    }

    /// JWKS fetch attempts so far (0 before discovery), for metrics.
    pub fn jwks_fetch_count(&self) -> u64 {
        self.ready.get().map_or(0, |r| r.jwks.fetch_count())
    }

    /// A bearer-token validator bound to this provider.
    pub fn validator(self: &Arc<Self>) -> TokenValidator {
        TokenValidator::new(Arc::clone(self))
    }

    fn ready_provider(&self) -> Result<Arc<OidcProvider>, AuthError> {
        self.provider().ok_or(AuthError::IdpUnavailable)
    }

    /// Starts a login (see [`LoginRequest::new`]) with this client id.
    pub fn login(
        &self,
        redirect_uri: &Url,
        scopes: &[&str],
        key: &StateKey,
    ) -> Result<LoginRequest, AuthError> {
        let provider = self.ready_provider()?;
        LoginRequest::new(
            &provider,
            &self.settings.client_id,
            redirect_uri,
            scopes,
            key,
        )
    }

    /// Exchanges `code` using the verifier and redirect URI from the opened state.
    pub async fn exchange_code(
        &self,
        client_secret: &SecretString,
        code: &str,
        state: &StateData,
    ) -> Result<TokenResponse, AuthError> {
        let provider = self.ready_provider()?;
        login::exchange_code(
            &self.http,
            &provider,
            &self.settings.client_id,
            client_secret,
            code,
            &state.verifier,
            &state.redirect_uri,
        )
        .await
    }

    /// Verifies an ID token issued to this client with the nonce from the opened state.
    pub async fn verify_id_token(
        &self,
        id_token: &str,
        expected_nonce: &str,
    ) -> Result<IdTokenClaims, AuthError> {
        let jwks = self.jwks().ok_or(AuthError::IdpUnavailable)?;
        login::verify_id_token(&self.settings, &jwks, id_token, expected_nonce).await
    }

    /// The RP-initiated logout URL (`Ok(None)`: the provider has no end-session endpoint).
    pub fn logout_url(
        &self,
        id_token_hint: Option<&str>,
        post_logout_redirect_uri: &Url,
    ) -> Result<Option<Url>, AuthError> {
        let provider = self.ready_provider()?;
        Ok(login::logout_url(
            &provider,
            id_token_hint,
            post_logout_redirect_uri,
            &self.settings.client_id,
        ))
    }

    fn install(&self, provider: OidcProvider, keys: super::keyset::KeySet) {
        let jwks = Arc::new(JwksCache::new(
            self.http.clone(),
            provider.jwks_uri.clone(),
            self.settings.jwks_ttl,
            self.settings.unknown_kid_cooldown,
        ));
        jwks.seed(keys);
        let ready = Ready {
            provider: Arc::new(provider),
            jwks,
        };
        if self.ready.set(ready).is_ok() {
            self.ready_tx.send_replace(true);
        }
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
