//! Authentication endpoints: token check, and the authorization-code + PKCE login flow for
//! frontends with refresh and logout (the server keeps no session: the login state travels
//! sealed in `state`).

use axum::Json;
use axum::extract::State;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{AuthError, Oidc, StateKey, TokenResponse, open_state};
use crate::error::{ApiError, FieldError, codes};
use crate::extract::{ApiJson, ApiQuery};
use crate::openapi::ErrorEnvelope;
use crate::principal::{Principal, Refused, auth_error, resolve_verified};
use crate::scope::{Access, RequestFacts, Scope};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct ValidateResponse {
    pub valid: bool,
    pub user_id: uuid::Uuid,
    pub tenant_id: uuid::Uuid,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Checks the bearer token: valid, known tenant, and who it is.
#[utoipa::path(get, path = "/api/v1/auth/validate", tag = "auth", operation_id = "auth_validate",
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

/// Starts a login: the IdP's authorization URL with PKCE (S256), state, nonce, the configured
/// scopes (`offline_access` when refresh tokens are enabled) and the API audience.
#[utoipa::path(get, path = "/api/v1/auth/login", tag = "auth", operation_id = "auth_login",
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
    let secret = client_secret(&state)?;
    let key = state_key(&secret)?;
    let request = oidc.login(&secret, &redirect, &key).map_err(auth_error)?;
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
    /// A bearer token for this API (checked by the callback before it is returned).
    pub access_token: String,
    pub token_type: String,
    pub expires_in: Option<u64>,
    /// Keep it for `/auth/logout`'s `id_token_hint`.
    pub id_token: Option<String>,
    /// Present when OIDC_REFRESH_TOKENS is on and the IdP issued one: send it to
    /// `/auth/refresh`.
    pub refresh_token: Option<String>,
}

impl CallbackResponse {
    fn from_tokens(tokens: TokenResponse) -> Self {
        Self {
            access_token: tokens.access_token.expose_secret().to_owned(),
            token_type: tokens.token_type,
            expires_in: tokens.expires_in,
            id_token: tokens.id_token.map(|t| t.expose_secret().to_owned()),
            refresh_token: tokens.refresh_token.map(|t| t.expose_secret().to_owned()),
        }
    }
}

/// Completes a login: verifies the state (AUTH_002), exchanges the code as a confidential client,
/// verifies the ID token and its nonce, checks that the access token is one this API accepts
/// (AUTH_012 names the setting to fix otherwise), and returns the tokens. Audited as
/// `auth.login` in the caller's tenant.
#[utoipa::path(post, path = "/api/v1/auth/callback", tag = "auth", operation_id = "auth_callback",
    request_body = CallbackRequest,
    responses(
        (status = 200, body = CallbackResponse),
        (status = 400, description = "The IdP rejected the code, or returned no ID token (AUTH_010)", body = ErrorEnvelope),
        (status = 401, description = "The ID token failed verification (AUTH_001, AUTH_003, AUTH_004)", body = ErrorEnvelope),
        (status = 403, description = "State verification failed (AUTH_002), tenant unknown (TENANT_001) or suspended (TENANT_002), user removed (AUTH_009)", body = ErrorEnvelope),
        (status = 422, description = "Invalid body", body = ErrorEnvelope),
        (status = 502, description = "The IdP issued an access token this API does not accept: the message names the setting (AUTH_012)", body = ErrorEnvelope),
        (status = 503, description = "Identity provider unavailable, login not configured, or the token's key not fetched yet (AUTH_008; retry after Retry-After)", body = ErrorEnvelope),
    ))]
pub async fn callback(
    State(state): State<AppState>,
    facts: RequestFacts,
    ApiJson(body): ApiJson<CallbackRequest>,
) -> Result<Json<CallbackResponse>, ApiError> {
    let oidc = state.oidc()?;
    let secret = client_secret(&state)?;
    let key = state_key(&secret)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let opened = open_state(&body.state, &key, now).map_err(auth_error)?;
    let tokens = oidc
        .exchange_code(&secret, &body.code, &opened)
        .await
        .map_err(auth_error)?;
    sign_in(&state, oidc, facts, &tokens, "auth.login").await?;
    Ok(Json(CallbackResponse::from_tokens(tokens)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from `/auth/callback` or the previous refresh.
    pub refresh_token: String,
}

/// Exchanges a refresh token for new tokens as a confidential client (the client secret stays
/// on the server). Use the returned `refresh_token` next time when there is one (providers may
/// rotate it). Audited as `auth.refresh` in the caller's tenant.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", operation_id = "auth_refresh",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = CallbackResponse),
        (status = 400, description = "The body is not JSON (REQ_005)", body = ErrorEnvelope),
        (status = 401, description = "The IdP rejected the refresh token: garbage, expired, revoked or another client's (AUTH_011); sign in again", body = ErrorEnvelope),
        (status = 403, description = "Tenant unknown (TENANT_001) or suspended (TENANT_002), user removed (AUTH_009)", body = ErrorEnvelope),
        (status = 422, description = "Invalid body", body = ErrorEnvelope),
        (status = 502, description = "The IdP issued an access token this API does not accept (AUTH_012)", body = ErrorEnvelope),
        (status = 503, description = "Identity provider unavailable or login not configured (AUTH_008)", body = ErrorEnvelope),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    facts: RequestFacts,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Json<CallbackResponse>, ApiError> {
    let oidc = state.oidc()?;
    let secret = client_secret(&state)?;
    let tokens = oidc
        .refresh(&secret, &body.refresh_token)
        .await
        .map_err(auth_error)?;
    sign_in(&state, oidc, facts, &tokens, "auth.refresh").await?;
    Ok(Json(CallbackResponse::from_tokens(tokens)))
}

/// Checks the new access token as any request would (so the frontend never holds a token the
/// API refuses), resolves the caller and records `action` in their tenant.
async fn sign_in(
    state: &AppState,
    oidc: &Oidc,
    facts: RequestFacts,
    tokens: &TokenResponse,
    action: &'static str,
) -> Result<(), ApiError> {
    let verified = oidc
        .validator()
        .validate(tokens.access_token.expose_secret())
        .await
        .map_err(|error| unusable_access_token(oidc, error))?;
    let subject = verified.subject.clone();
    let principal = match resolve_verified(state, verified).await {
        Ok(principal) => principal,
        // Refused inside a known tenant (suspended, user removed or disabled): on its record.
        Err(Refused {
            error,
            tenant: Some(tenant),
            user,
        }) => {
            let access = Access::new(action, "session");
            let who = (tenant, user, subject.as_str());
            return Err(facts.refuse_in(&state.pool, who, access, error).await);
        }
        Err(refused) => return Err(refused.error),
    };
    let scope = Scope::new(state, principal, facts);
    // Nothing changes in the database: the transaction carries only the event.
    let tx = scope.allow(Access::new(action, "session")).begin().await?;
    tx.commit().await?;
    Ok(())
}

/// The IdP's access token fails Haven's own checks: a login setting does not match the IdP.
fn unusable_access_token(oidc: &Oidc, error: AuthError) -> ApiError {
    use AuthError::*;
    let fix = match error {
        // Retryable or the caller's own tenant problem: answered as for any request.
        IdpUnavailable | KeysCoolingDown { .. } | TenantClaimMissing | TenantClaimMalformed => {
            return auth_error(error);
        }
        Malformed | NotAccessToken | TooLarge => {
            "the IdP returned an opaque or non-JWT access token: set OIDC_API_AUDIENCE and OIDC_AUDIENCE_PARAM (or OIDC_SCOPES) so that it issues a JWT for this API"
        }
        BadAudience => {
            "the access token's audience is not OIDC_AUDIENCE: check OIDC_API_AUDIENCE, OIDC_AUDIENCE_PARAM and OIDC_AUDIENCE (OIDC_AUDIENCE_MODE=cognito for Cognito)"
        }
        BadIssuer => {
            "the access token's issuer is not OIDC_ISSUER_URL (exact match, trailing slash included)"
        }
        BadAlgorithm => "the access token's algorithm is not in JWT_ALLOWED_ALGORITHMS",
        LifetimeTooLong => "the access token lives longer than JWT_MAX_LIFETIME_MINUTES",
        _ => "the access token fails validation: see docs/AUTH_CONFIGURATION.md for this IdP",
    };
    tracing::warn!(
        reason = error.reason(),
        issuer = %oidc.settings().issuer_url,
        error_code = codes::AUTH_012.code,
        "login returned an access token this service does not accept"
    );
    ApiError::new(codes::AUTH_012).with_message(format!(
        "The identity provider issued an access token this service does not accept: {fix}"
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// Where the IdP sends the browser after logout: an allowed origin or a URL under it.
    pub redirect_uri: String,
    /// The ID token from the login, passed on as `id_token_hint` (some IdPs, e.g. Okta,
    /// require it). At most the configured token size (JWT_MAX_TOKEN_BYTES, 16 KiB at least).
    pub id_token_hint: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LogoutResponse {
    /// The IdP's end-session URL, or null when the IdP has none (then just drop the tokens).
    pub logout_url: Option<String>,
}

/// Builds the IdP's end-session URL for the caller.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", operation_id = "auth_logout",
    security(("bearer" = [])),
    request_body = LogoutRequest,
    responses(
        (status = 200, body = LogoutResponse),
        (status = 400, description = "redirect_uri is not under an allowed origin (AUTH_006)", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid token", body = ErrorEnvelope),
        (status = 422, description = "Invalid body, or an id_token_hint longer than the token size cap", body = ErrorEnvelope),
        (status = 503, description = "Identity provider unavailable (AUTH_008)", body = ErrorEnvelope),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    _principal: Principal,
    ApiJson(body): ApiJson<LogoutRequest>,
) -> Result<Json<LogoutResponse>, ApiError> {
    let redirect = allowed_redirect(&state, &body.redirect_uri)?;
    let oidc = state.oidc()?;
    let cap = oidc.settings().max_token_bytes.max(16 * 1024);
    let hint = body.id_token_hint.as_deref().filter(|h| !h.is_empty());
    if hint.is_some_and(|h| h.len() > cap) {
        return Err(ApiError::new(codes::VAL_001).with_details(vec![FieldError {
            field: "id_token_hint".to_owned(),
            message: format!("must be at most {cap} bytes"),
        }]));
    }
    let url = oidc.logout_url(hint, &redirect).map_err(auth_error)?;
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
fn state_key(secret: &SecretString) -> Result<StateKey, ApiError> {
    StateKey::derive(secret).map_err(|_| {
        ApiError::new(codes::AUTH_008)
            .with_message("Login is not configured: OIDC_CLIENT_SECRET is shorter than 32 bytes")
    })
}
