//! OIDC bearer authentication core: settings, discovery, JWKS cache, access-token validation,
//! the login flow on openidconnect's client (sealed state, code exchange, refresh, logout). No
//! axum types here.
//!
//! Wiring: `let oidc = Oidc::start(settings)?;` at start-up (never blocks on the IdP), keep
//! `oidc.validator()` in the app state, call `validator.validate(token).await` in the extractor
//! and map [`AuthError::code`] / [`AuthError::status`] into the error envelope.

mod claims;
mod discovery;
mod error;
mod http;
mod jwks;
mod jws;
mod keyset;
mod login;
mod login_errors;
mod login_settings;
mod login_state;
mod oidc;
mod parsed_key;
mod ready;
mod settings;
mod validate;

pub use claims::{MAX_TENANT_ID_LEN, is_valid_tenant_id, roles_from_claims, tenant_from_claims};
pub use discovery::OidcProvider;
pub use error::AuthError;
pub use http::{HttpClient, HttpError};
pub use jwks::JwksCache;
pub use login::{LoginRequest, TokenResponse, logout_url};
pub use login_state::{
    STATE_TTL_SECS, StateData, StateKey, StateKeyTooShort, open_state, seal_state,
};
pub use oidc::Oidc;
pub use settings::{
    AudienceMode, AudienceParam, AuthSettings, LoginSettings, MAX_ACCEPTED_TOKENS, SettingsError,
};
pub use validate::{TokenValidator, VerifiedToken};

/// Re-exported so the config module can name algorithms without depending on jsonwebtoken.
pub use jsonwebtoken::Algorithm;
