//! The login flow's IdP side: authorization URL (code + PKCE S256 + state + nonce), code
//! exchange as a confidential client, ID token verification, RP-initiated logout URL.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::Validation;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::OffsetDateTime;
use url::Url;
use url::form_urlencoded::{Serializer, byte_serialize};

use super::claims;
use super::discovery::OidcProvider;
use super::error::AuthError;
use super::http::HttpClient;
use super::jwks::JwksCache;
use super::jws::{self, TypRule};
use super::pkce::{self, Pkce, STATE_TTL_SECS, StateData, StateKey};
use super::settings::AuthSettings;
use super::validate::datetimes;

/// Longest authorization code accepted from the browser.
const MAX_CODE_LEN: usize = 2048;

/// Where to send the browser, and the `state` value that is in that URL.
#[derive(Debug, Clone)]
pub struct LoginRequest {
    /// The IdP's authorization endpoint with `response_type=code`, `client_id`,
    /// `redirect_uri`, `scope`, `state`, `nonce`, `code_challenge`, `code_challenge_method=S256`.
    pub authorization_url: Url,
    /// The sealed state (also in the URL). The frontend should keep it and compare it with the
    /// `state` coming back before posting to the callback (login CSRF).
    pub sealed_state: String,
}

impl LoginRequest {
    /// Starts a login: fresh PKCE verifier, OIDC nonce, and a sealed state that expires in 10
    /// minutes. `openid` is always requested; other scopes are added once each.
    pub fn new(
        provider: &OidcProvider,
        client_id: &str,
        redirect_uri: &Url,
        scopes: &[&str],
        key: &StateKey,
    ) -> Result<Self, AuthError> {
        let pkce = Pkce::generate();
        let nonce = pkce::random_token(24);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let sealed_state = pkce::seal_state(
            &StateData {
                verifier: pkce.verifier,
                nonce: nonce.clone(),
                redirect_uri: redirect_uri.to_string(),
                expires_at: now + STATE_TTL_SECS,
            },
            key,
        )?;
        let mut scope: Vec<&str> = vec!["openid"];
        for s in scopes.iter().flat_map(|s| s.split_whitespace()) {
            if !scope.contains(&s) {
                scope.push(s);
            }
        }
        let mut authorization_url = provider.authorization_endpoint.clone();
        authorization_url
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri.as_str())
            .append_pair("scope", &scope.join(" "))
            .append_pair("state", &sealed_state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(Self {
            authorization_url,
            sealed_state,
        })
    }
}

/// The token endpoint's answer. Token values are secrets: `Debug` hides them.
pub struct TokenResponse {
    /// The access token (a bearer JWT for Haven's API).
    pub access_token: SecretString,
    /// Always `Bearer` (anything else is refused).
    pub token_type: String,
    /// Seconds until the access token expires, if the IdP said.
    pub expires_in: Option<u64>,
    /// The ID token, if the IdP returned one.
    pub id_token: Option<SecretString>,
    /// The refresh token, if the IdP returned one.
    pub refresh_token: Option<SecretString>,
    /// Granted scopes, if the IdP said.
    pub scope: Option<String>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[REDACTED]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("id_token", &self.id_token.as_ref().map(|_| "[REDACTED]"))
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("scope", &self.scope)
            .finish()
    }
}

#[derive(Deserialize)]
struct RawTokenResponse {
    access_token: String,
    token_type: String,
    expires_in: Option<u64>,
    id_token: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
}

/// Exchanges an authorization code at the token endpoint, authenticating with the client
/// secret (`client_secret_basic`, or `client_secret_post` when that is all the IdP offers).
///
/// IdP says 4xx (invalid/expired/replayed code, PKCE mismatch) → `CodeRejected`; unreachable,
/// 5xx or an unusable answer → `IdpUnavailable`.
pub async fn exchange_code(
    http: &HttpClient,
    provider: &OidcProvider,
    client_id: &str,
    client_secret: &SecretString,
    code: &str,
    verifier: &SecretString,
    redirect_uri: &str,
) -> Result<TokenResponse, AuthError> {
    if code.is_empty() || code.len() > MAX_CODE_LEN {
        return Err(AuthError::CodeRejected);
    }
    let endpoint = provider
        .token_endpoint
        .as_ref()
        .ok_or(AuthError::IdpUnavailable)?;
    let mut request = http::Request::post(endpoint.as_str())
        .header(http::header::ACCEPT, "application/json")
        .header(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        );
    // Built in a block: the form serializer is not Send and must not live across the await.
    let (body, basic) = {
        let mut form = Serializer::new(String::new());
        form.append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("code_verifier", verifier.expose_secret());
        let basic = if provider.prefers_client_secret_post() {
            form.append_pair("client_id", client_id)
                .append_pair("client_secret", client_secret.expose_secret());
            None
        } else {
            // RFC 6749 §2.3.1: both parts form-urlencoded before base64.
            let user: String = byte_serialize(client_id.as_bytes()).collect();
            let pass: String = byte_serialize(client_secret.expose_secret().as_bytes()).collect();
            let encoded = SecretString::from(STANDARD.encode(format!("{user}:{pass}")));
            let mut basic =
                http::HeaderValue::try_from(format!("Basic {}", encoded.expose_secret()))
                    .map_err(|_| AuthError::Internal)?;
            basic.set_sensitive(true);
            Some(basic)
        };
        (form.finish().into_bytes(), basic)
    };
    if let Some(basic) = basic {
        request = request.header(http::header::AUTHORIZATION, basic);
    }
    let request = request.body(body).map_err(|_| AuthError::Internal)?;
    let response = http.execute(request).await.map_err(|error| {
        tracing::warn!(%error, "token endpoint unreachable");
        AuthError::IdpUnavailable
    })?;
    let status = response.status();
    if status.is_client_error() {
        #[derive(Deserialize)]
        struct OAuthError {
            error: Option<String>,
        }
        let error = serde_json::from_slice::<OAuthError>(response.body())
            .ok()
            .and_then(|e| e.error)
            .unwrap_or_default();
        tracing::info!(status = status.as_u16(), error = %error.chars().take(64).collect::<String>(), "token endpoint rejected the code");
        return Err(AuthError::CodeRejected);
    }
    if !status.is_success() {
        tracing::warn!(status = status.as_u16(), "token endpoint failed");
        return Err(AuthError::IdpUnavailable);
    }
    let raw: RawTokenResponse = serde_json::from_slice(response.body()).map_err(|_| {
        tracing::warn!("token endpoint answered something that is not a token response");
        AuthError::IdpUnavailable
    })?;
    if !raw.token_type.eq_ignore_ascii_case("bearer") || raw.access_token.is_empty() {
        tracing::warn!("token endpoint returned a non-bearer or empty access token");
        return Err(AuthError::IdpUnavailable);
    }
    Ok(TokenResponse {
        access_token: SecretString::from(raw.access_token),
        token_type: "Bearer".to_owned(),
        expires_in: raw.expires_in,
        id_token: raw.id_token.map(SecretString::from),
        refresh_token: raw.refresh_token.map(SecretString::from),
        scope: raw.scope,
    })
}

/// What a verified ID token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenClaims {
    /// `sub`.
    pub subject: String,
    /// `exp`.
    pub expires_at: OffsetDateTime,
    /// `iat`.
    pub issued_at: OffsetDateTime,
}

/// Verifies an ID token from the code exchange: signature via the JWKS cache, `typ` absent or
/// `JWT`, exact `iss`, `aud` contains the client id (and `azp`, when present or when there are
/// several audiences, equals it), `exp`/`iat`, `sub`, and the nonce from the sealed state
/// (constant-time; a mismatch is `StateInvalid`).
pub(crate) async fn verify_id_token(
    settings: &AuthSettings,
    jwks: &Arc<JwksCache>,
    id_token: &str,
    expected_nonce: &str,
) -> Result<IdTokenClaims, AuthError> {
    let compact = jws::split_compact(id_token, settings.max_token_bytes.max(16 * 1024))?;
    let header = jws::parse_header(
        compact.header,
        &settings.allowed_algorithms,
        TypRule::IdToken,
    )?;
    let key = jwks.key_for(header.kid.as_deref(), header.alg).await?;
    let mut validation = Validation::new(header.alg);
    validation.leeway = settings.leeway.as_secs();
    validation.validate_nbf = true;
    validation.set_issuer(&[settings.issuer_url.as_str()]);
    validation.set_audience(&[settings.client_id.as_str()]);
    validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
    let claims = jws::verify(id_token, compact, &key.key, &validation)?;

    let now = OffsetDateTime::now_utc().unix_timestamp();
    let times = claims::check_common(&claims, settings, now)?;
    let several_audiences =
        matches!(claims.get("aud"), Some(serde_json::Value::Array(a)) if a.len() > 1);
    match claims.get("azp") {
        Some(serde_json::Value::String(azp)) if *azp == settings.client_id => {}
        None if !several_audiences => {}
        _ => return Err(AuthError::BadAudience),
    }
    match claims.get("nonce") {
        Some(serde_json::Value::String(n))
            if pkce::constant_time_eq(n.as_bytes(), expected_nonce.as_bytes()) => {}
        _ => return Err(AuthError::StateInvalid),
    }
    let subject = claims::subject(&claims)?;
    let (issued_at, expires_at) = datetimes(times)?;
    Ok(IdTokenClaims {
        subject,
        expires_at,
        issued_at,
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
mod tests {
    use super::*;

    fn provider() -> OidcProvider {
        OidcProvider {
            issuer: "https://idp.example.com".into(),
            jwks_uri: Url::parse("https://idp.example.com/jwks").expect("url"),
            authorization_endpoint: Url::parse("https://idp.example.com/authorize?tenant=x")
                .expect("url"),
            token_endpoint: Some(Url::parse("https://idp.example.com/token").expect("url")),
            end_session_endpoint: Some(Url::parse("https://idp.example.com/logout").expect("url")),
            token_auth_methods: vec![],
        }
    }

    #[test]
    fn authorization_url_carries_pkce_state_and_nonce() {
        let key = StateKey::generate();
        let redirect = Url::parse("https://app.example.com/cb?x=1&y=a b").expect("url");
        let login = LoginRequest::new(
            &provider(),
            "haven",
            &redirect,
            &["email profile", "openid"],
            &key,
        )
        .expect("login");
        let q: std::collections::HashMap<String, String> =
            login.authorization_url.query_pairs().into_owned().collect();
        assert_eq!(q["tenant"], "x");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "haven");
        assert_eq!(q["redirect_uri"], redirect.as_str());
        assert_eq!(q["scope"], "openid email profile");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["state"], login.sealed_state);
        let state = pkce::open_state(
            &login.sealed_state,
            &key,
            OffsetDateTime::now_utc().unix_timestamp(),
        )
        .expect("state");
        assert_eq!(q["nonce"], state.nonce);
        assert_eq!(
            q["code_challenge"],
            pkce::pkce_challenge(state.verifier.expose_secret())
        );
        assert_eq!(state.redirect_uri, redirect.as_str());
    }

    #[test]
    fn logout_url_is_percent_encoded() {
        let back = Url::parse("https://app.example.com/bye?a=1&b=two words").expect("url");
        let url = logout_url(&provider(), Some("h.i&nt"), &back, "haven&co").expect("url");
        let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(q[0], ("id_token_hint".into(), "h.i&nt".into()));
        assert_eq!(q[1], ("post_logout_redirect_uri".into(), back.to_string()));
        assert_eq!(q[2], ("client_id".into(), "haven&co".into()));
        assert!(!url.as_str().contains("haven&co"));
        let mut none = provider();
        none.end_session_endpoint = None;
        assert!(logout_url(&none, None, &back, "haven").is_none());
    }

    #[test]
    fn token_response_debug_hides_tokens() {
        let t = TokenResponse {
            access_token: SecretString::from("at-secret"),
            token_type: "Bearer".into(),
            expires_in: Some(60),
            id_token: Some(SecretString::from("id-secret")),
            refresh_token: None,
            scope: None,
        };
        let shown = format!("{t:?}");
        assert!(!shown.contains("at-secret") && !shown.contains("id-secret"));
    }
}
