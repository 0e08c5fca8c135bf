//! The login flow's IdP side on openidconnect's `CoreClient`: authorization URL (code, PKCE S256,
//! sealed state, nonce, scopes, API audience), code exchange and refresh as a confidential
//! client, ID-token verification against the cached keys, and the RP-initiated logout URL.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreTokenResponse,
};
use openidconnect::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, Scope, TokenResponse as _, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use url::Url;

use super::discovery::OidcProvider;
use super::error::AuthError;
use super::http::HttpClient;
use super::jwks::JwksCache;
use super::jws::{self, TypRule};
use super::login_errors::{claims_error, core_alg, token_error};
use super::login_state::{self, STATE_TTL_SECS, StateData, StateKey};
use super::settings::{AudienceParam, AuthSettings};

/// Longest authorization code or refresh token accepted from the browser.
const MAX_GRANT_LEN: usize = 8192;

type LoginClient =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// What the login flow uses: settings, the discovered provider, its keys, the HTTP client.
#[derive(Clone, Copy)]
pub(crate) struct LoginContext<'a> {
    pub settings: &'a AuthSettings,
    pub provider: &'a OidcProvider,
    pub jwks: &'a JwksCache,
    pub http: &'a HttpClient,
}

/// Where to send the browser, and the `state` value that is in that URL.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    /// The IdP's authorization endpoint with `response_type=code`, `client_id`,
    /// `redirect_uri`, `scope`, `state`, `nonce`, `code_challenge` (S256) and the API audience.
    pub authorization_url: Url,
    /// The sealed state (also in the URL). The frontend should keep it and compare it with the
    /// `state` coming back before posting to the callback (login CSRF).
    pub sealed_state: String,
}

/// The token endpoint's answer. Token values are secrets: `Debug` hides them.
pub struct TokenResponse {
    /// The access token (a bearer JWT for Haven's API).
    pub access_token: SecretString,
    /// Always `Bearer` (anything else is refused).
    pub token_type: String,
    /// Seconds until the access token expires, if the IdP said.
    pub expires_in: Option<u64>,
    /// The ID token (verified), if the IdP returned one.
    pub id_token: Option<SecretString>,
    /// The refresh token, if the IdP returned one.
    pub refresh_token: Option<SecretString>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |t: &Option<SecretString>| t.as_ref().map(|_| "[REDACTED]");
        f.debug_struct("TokenResponse")
            .field("access_token", &"[REDACTED]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("id_token", &hidden(&self.id_token))
            .field("refresh_token", &hidden(&self.refresh_token))
            .finish()
    }
}

impl LoginContext<'_> {
    /// A client for one request (built per call so that ID tokens are verified with the keys
    /// cached now, not the ones discovery saw).
    fn client(
        &self,
        secret: &SecretString,
        redirect: Option<&Url>,
    ) -> Result<LoginClient, AuthError> {
        let token_url = self
            .provider
            .token_endpoint
            .clone()
            .ok_or(AuthError::IdpUnavailable)?;
        let issuer =
            IssuerUrl::new(self.settings.issuer_url.clone()).map_err(|_| AuthError::Internal)?;
        let auth_type = if self.provider.prefers_client_secret_post() {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        };
        let client = CoreClient::new(
            ClientId::new(self.settings.client_id.clone()),
            issuer,
            CoreJsonWebKeySet::default(),
        )
        .set_client_secret(ClientSecret::new(secret.expose_secret().to_owned()))
        .set_auth_uri(AuthUrl::from_url(
            self.provider.authorization_endpoint.clone(),
        ))
        .set_token_uri(TokenUrl::from_url(token_url))
        .set_auth_type(auth_type)
        // Scopes come from the settings, `openid` first (see `LoginSettings::requested_scopes`).
        .disable_openid_scope();
        Ok(match redirect {
            Some(redirect) => client.set_redirect_uri(RedirectUrl::from_url(redirect.clone())),
            None => client,
        })
    }

    /// `("resource", uri)` or `("audience", id)` per OIDC_AUDIENCE_PARAM.
    fn audience_param(&self) -> Option<(&'static str, String)> {
        let login = &self.settings.login;
        let audience = login.api_audience.clone()?;
        match login.audience_param {
            AudienceParam::Resource => Some(("resource", audience)),
            AudienceParam::Audience => Some(("audience", audience)),
            AudienceParam::None => None,
        }
    }

    /// The `resource` to repeat at the token endpoint (RFC 8707 §2.2); `audience` is sent only
    /// in the authorization request.
    fn token_resource(&self) -> Option<String> {
        self.audience_param()
            .filter(|(name, _)| *name == "resource")
            .map(|(_, value)| value)
    }

    /// Starts a login: fresh PKCE verifier and nonce, sealed into a state that expires in 10
    /// minutes, and the authorization URL carrying them.
    pub fn start(
        &self,
        secret: &SecretString,
        redirect_uri: &Url,
        key: &StateKey,
    ) -> Result<LoginRequest, AuthError> {
        let client = self.client(secret, Some(redirect_uri))?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = Nonce::new_random();
        let sealed_state = login_state::seal_state(
            &StateData {
                verifier: SecretString::from(verifier.secret().clone()),
                nonce: nonce.secret().clone(),
                redirect_uri: redirect_uri.to_string(),
                expires_at: OffsetDateTime::now_utc().unix_timestamp() + STATE_TTL_SECS,
            },
            key,
        )?;
        let state = CsrfToken::new(sealed_state.clone());
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || state,
                move || nonce,
            )
            .set_pkce_challenge(challenge);
        for scope in self.settings.login.requested_scopes() {
            request = request.add_scope(Scope::new(scope));
        }
        if let Some((name, value)) = self.audience_param() {
            request = request.add_extra_param(name, value);
        }
        if let Some(prompt) = &self.settings.login.prompt {
            request = request.add_extra_param("prompt", prompt.clone());
        }
        let (authorization_url, _, _) = request.url();
        Ok(LoginRequest {
            authorization_url,
            sealed_state,
        })
    }

    /// Exchanges an authorization code with the verifier and redirect URI of the opened state,
    /// and verifies the ID token (required) with the state's nonce.
    ///
    /// IdP refuses the code (invalid, expired, replayed, PKCE mismatch) or sends no ID token →
    /// `CodeRejected`; unreachable or an unusable answer → `IdpUnavailable`.
    pub async fn exchange_code(
        &self,
        secret: &SecretString,
        code: &str,
        state: &StateData,
    ) -> Result<TokenResponse, AuthError> {
        if code.is_empty() || code.len() > MAX_GRANT_LEN {
            return Err(AuthError::CodeRejected);
        }
        let redirect = Url::parse(&state.redirect_uri).map_err(|_| AuthError::StateInvalid)?;
        let client = self.client(secret, Some(&redirect))?;
        let mut request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(
                state.verifier.expose_secret().to_owned(),
            ));
        if let Some(resource) = self.token_resource() {
            request = request.add_extra_param("resource", resource);
        }
        let response = request
            .request_async(self.http)
            .await
            .map_err(|e| token_error(&e, AuthError::CodeRejected))?;
        let Some(id_token) = response.id_token() else {
            tracing::info!("token endpoint returned no ID token for an OpenID login");
            return Err(AuthError::CodeRejected);
        };
        let expected = Nonce::new(state.nonce.clone());
        self.verify_id_token(id_token, &expected).await?;
        tokens(&response)
    }

    /// Exchanges a refresh token (confidential client: the secret never leaves the server). An
    /// ID token in the answer is verified (it carries no nonce).
    ///
    /// IdP refuses the token (garbage, expired, revoked, another client's) → `RefreshRejected`.
    pub async fn refresh(
        &self,
        secret: &SecretString,
        refresh_token: &str,
    ) -> Result<TokenResponse, AuthError> {
        if refresh_token.is_empty() || refresh_token.len() > MAX_GRANT_LEN {
            return Err(AuthError::RefreshRejected);
        }
        let client = self.client(secret, None)?;
        let refresh_token = RefreshToken::new(refresh_token.to_owned());
        let mut request = client.exchange_refresh_token(&refresh_token);
        if let Some(resource) = self.token_resource() {
            request = request.add_extra_param("resource", resource);
        }
        let response = request
            .request_async(self.http)
            .await
            .map_err(|e| token_error(&e, AuthError::RefreshRejected))?;
        if let Some(id_token) = response.id_token() {
            self.verify_id_token(id_token, |_: Option<&Nonce>| Ok(()))
                .await?;
        }
        tokens(&response)
    }

    /// Verifies an ID token with openidconnect (signature, `iss`, `aud`/`azp`, `exp`, nonce)
    /// using the keys cached now; a `kid` not cached yet is fetched first (as for access tokens).
    async fn verify_id_token(
        &self,
        id_token: &CoreIdToken,
        nonce: impl openidconnect::NonceVerifier,
    ) -> Result<(), AuthError> {
        let compact = id_token.to_string();
        let max = self.settings.max_token_bytes.max(16 * 1024);
        let parts = jws::split_compact(&compact, max)?;
        let header = jws::parse_header(
            parts.header,
            &self.settings.allowed_algorithms,
            TypRule::IdToken,
        )?;
        self.jwks
            .key_for(header.kid.as_deref(), header.alg, || None)
            .await?;
        let keys: CoreJsonWebKeySet =
            serde_json::from_value(self.jwks.jwks_document()).map_err(|_| AuthError::Internal)?;
        let issuer =
            IssuerUrl::new(self.settings.issuer_url.clone()).map_err(|_| AuthError::Internal)?;
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(self.settings.client_id.clone()),
            issuer,
            keys,
        )
        .set_allowed_algs(
            self.settings
                .allowed_algorithms
                .iter()
                .filter_map(|a| core_alg(*a)),
        );
        id_token
            .claims(&verifier, nonce)
            .map(|_| ())
            .map_err(|e| claims_error(&e))
    }
}

/// The verified response as plain tokens; anything but a non-empty bearer token is refused.
fn tokens(response: &CoreTokenResponse) -> Result<TokenResponse, AuthError> {
    let access_token = response.access_token().secret();
    if access_token.is_empty()
        || response.token_type() != &openidconnect::core::CoreTokenType::Bearer
    {
        tracing::warn!("token endpoint returned a non-bearer or empty access token");
        return Err(AuthError::IdpUnavailable);
    }
    Ok(TokenResponse {
        access_token: SecretString::from(access_token.clone()),
        token_type: "Bearer".to_owned(),
        expires_in: response.expires_in().map(|d| d.as_secs()),
        id_token: response
            .id_token()
            .map(|t| SecretString::from(t.to_string())),
        refresh_token: response
            .refresh_token()
            .map(|t| SecretString::from(t.secret().clone())),
    })
}

/// RP-initiated logout URL at the provider's `end_session_endpoint` (percent-encoded by
/// `url`), or `None` when the provider has none (e.g. Cognito: use its `/logout` instead).
/// Check `post_logout_redirect_uri` against the allowed origins before calling this.
pub fn logout_url(
    provider: &OidcProvider,
    id_token_hint: Option<&str>,
    post_logout_redirect_uri: &Url,
    client_id: &str,
) -> Option<Url> {
    let mut url = provider.end_session_endpoint.clone()?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(hint) = id_token_hint {
            query.append_pair("id_token_hint", hint);
        }
        query
            .append_pair(
                "post_logout_redirect_uri",
                post_logout_redirect_uri.as_str(),
            )
            .append_pair("client_id", client_id);
    }
    Some(url)
}

#[cfg(test)]
#[path = "login_tests.rs"]
mod tests;
