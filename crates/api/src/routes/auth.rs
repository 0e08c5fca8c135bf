//! Authentication endpoints: token check, and the authorization-code + PKCE login flow for
//! frontends (the server keeps no session: the login state travels sealed in `state`).

use axum::Json;
use axum::extract::State;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{StateKey, open_state};
use crate::error::{ApiError, codes};
use crate::extract::{ApiJson, ApiQuery};
use crate::openapi::ErrorEnvelope;
use crate::principal::{Principal, auth_error};
use crate::state::AppState;

const SCOPES: &[&str] = &["openid", "profile", "email"];

#[derive(Serialize, ToSchema)]
pub struct ValidateResponse {
    pub valid: bool,
    pub user_id: uuid::Uuid,
    pub tenant_id: uuid::Uuid,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Checks the bearer token: valid, known tenant, and who it is.
#[utoipa::path(get, path = "/auth/validate", tag = "auth", operation_id = "auth_validate",
    security(("bearer" = [])),
    responses(
        (status = 200, body = ValidateResponse),
        (status = 401, description = "Missing, malformed, expired or badly signed token", body = ErrorEnvelope),
        (status = 403, description = "Tenant claim missing (AUTH_005) or malformed (AUTH_007), tenant unknown (TENANT_001) or suspended (TENANT_002)", body = ErrorEnvelope),
        (status = 503, description = "Identity provider unavailable (AUTH_008)", body = ErrorEnvelope),
    ))]
pub async fn validate(principal: Principal) -> Json<ValidateResponse> {
    Json(ValidateResponse {
        valid: true,
        user_id: principal.user_id.as_uuid(),
        tenant_id: principal.tenant_id.as_uuid(),
        expires_at: principal.expires_at.unix_timestamp(),
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LoginQuery {
    /// Where the IdP sends the browser back: an allowed origin or a URL under it.
    pub redirect_uri: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send the browser here.
    pub authorization_url: String,
    /// Keep it; check that the `state` coming back equals it before calling the callback.
    pub state: String,
}

/// Starts a login: the IdP's authorization URL with PKCE (S256), state and nonce.
#[utoipa::path(get, path = "/auth/login", tag = "auth", operation_id = "auth_login",
    params(LoginQuery),
    responses(
        (status = 200, body = LoginResponse),
        (status = 400, description = "redirect_uri is not under an allowed origin (AUTH_006)", body = ErrorEnvelope),
        (status = 422, description = "redirect_uri missing, or an unknown query parameter", body = ErrorEnvelope),
        (status = 503, description = "Identity provider unavailable or login not configured (AUTH_008)", body = ErrorEnvelope),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<LoginQuery>,
) -> Result<Json<LoginResponse>, ApiError> {
    let redirect = allowed_redirect(&state, &query.redirect_uri)?;
    let oidc = state.oidc()?;
    let key = state_key(&state)?;
    let request = oidc.login(&redirect, SCOPES, &key).map_err(auth_error)?;
    Ok(Json(LoginResponse {
        authorization_url: request.authorization_url.to_string(),
        state: request.sealed_state,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackRequest {
    /// The authorization code the IdP returned.
    pub code: String,
    /// The `state` the IdP returned (as issued by /auth/login).
    pub state: String,
}

#[derive(Serialize, ToSchema)]
pub struct CallbackResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: Option<u64>,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
}

/// Completes a login: verifies the state (AUTH_002), exchanges the code as a confidential client,
/// verifies the ID token and its nonce, and returns the tokens.
#[utoipa::path(post, path = "/auth/callback", tag = "auth", operation_id = "auth_callback",
    request_body = CallbackRequest,
    responses(
        (status = 200, body = CallbackResponse),
        (status = 403, description = "State verification failed (AUTH_002)", body = ErrorEnvelope),
        (status = 400, description = "The IdP rejected the code (AUTH_010)", body = ErrorEnvelope),
        (status = 422, description = "Invalid body", body = ErrorEnvelope),
        (status = 503, description = "Identity provider unavailable or login not configured (AUTH_008)", body = ErrorEnvelope),
    ))]
pub async fn callback(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CallbackRequest>,
) -> Result<Json<CallbackResponse>, ApiError> {
    let oidc = state.oidc()?;
    let key = state_key(&state)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let opened = open_state(&body.state, &key, now).map_err(auth_error)?;
    let secret = client_secret(&state)?;
    let tokens = oidc
        .exchange_code(&secret, &body.code, &opened)
        .await
        .map_err(auth_error)?;
    if let Some(id_token) = &tokens.id_token {
        oidc.verify_id_token(id_token.expose_secret(), &opened.nonce)
            .await
            .map_err(auth_error)?;
    } else {
        // An OpenID login without an ID token cannot prove the nonce: refuse it.
        return Err(auth_error(crate::auth::AuthError::CodeRejected));
    }
    Ok(Json(CallbackResponse {
        access_token: tokens.access_token.expose_secret().to_owned(),
        token_type: tokens.token_type,
        expires_in: tokens.expires_in,
        id_token: tokens.id_token.map(|t| t.expose_secret().to_owned()),
        refresh_token: tokens.refresh_token.map(|t| t.expose_secret().to_owned()),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// Where the IdP sends the browser after logout: an allowed origin or a URL under it.
    pub redirect_uri: String,
}

#[derive(Serialize, ToSchema)]
pub struct LogoutResponse {
    /// The IdP's end-session URL, or null when the IdP has none (then just drop the tokens).
    pub logout_url: Option<String>,
}

/// Builds the IdP's end-session URL for the caller.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", operation_id = "auth_logout",
    security(("bearer" = [])),
    request_body = LogoutRequest,
    responses(
        (status = 200, body = LogoutResponse),
        (status = 400, description = "redirect_uri is not under an allowed origin (AUTH_006)", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 422, description = "Invalid body", body = ErrorEnvelope),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    _principal: Principal,
    ApiJson(body): ApiJson<LogoutRequest>,
) -> Result<Json<LogoutResponse>, ApiError> {
    let redirect = allowed_redirect(&state, &body.redirect_uri)?;
    let url = state
        .oidc()?
        .logout_url(None, &redirect)
        .map_err(auth_error)?;
    Ok(Json(LogoutResponse {
        logout_url: url.map(|u| u.to_string()),
    }))
}

/// A redirect target must be an allowed origin exactly, or a URL under it: same scheme, host and
/// port, no credentials. `*` allows no redirect.
fn allowed_redirect(state: &AppState, raw: &str) -> Result<url::Url, ApiError> {
    let refuse = || ApiError::new(codes::AUTH_006);
    let url = url::Url::parse(raw).map_err(|_| refuse())?;
    let origin = url.origin().ascii_serialization();
    let allowed = state
        .config
        .allowed_origins
        .iter()
        .any(|o| o != "*" && *o == origin);
    if !allowed
        || !url.username().is_empty()
        || url.password().is_some()
        || url.fragment().is_some()
    {
        return Err(refuse());
    }
    Ok(url)
}

/// The client secret as of now: a rotation in Secrets Manager is used by the next exchange.
fn client_secret(state: &AppState) -> Result<SecretString, ApiError> {
    state
        .secrets
        .current()
        .oidc_client_secret
        .clone()
        .ok_or_else(|| {
            ApiError::new(codes::AUTH_008)
                .with_message("Login is not configured: OIDC_CLIENT_SECRET is missing")
        })
}

/// The key sealing login state. Derived from the client secret, which every replica shares, so a
/// login started on one replica completes on another.
fn state_key(state: &AppState) -> Result<StateKey, ApiError> {
    let secret = client_secret(state)?;
    StateKey::derive(&secret).map_err(|_| {
        ApiError::new(codes::AUTH_008)
            .with_message("Login is not configured: OIDC_CLIENT_SECRET is shorter than 32 bytes")
    })
}
