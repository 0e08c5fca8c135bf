//! OpenID Connect discovery: the provider's endpoints, read once through openidconnect's
//! `discover_async` over our bounded reqwest adapter.

use std::error::Error as StdError;

use openidconnect::core::CoreClientAuthMethod;
use openidconnect::{IssuerUrl, ProviderMetadataWithLogout};
use url::Url;

use super::http::HttpClient;
use super::keyset::KeySet;

/// The endpoints Haven uses, from the issuer's discovery document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcProvider {
    /// The issuer, exactly as configured (openidconnect checked the document says the same).
    pub issuer: String,
    /// Where the signing keys are published.
    pub jwks_uri: Url,
    /// Where the browser is sent to log in.
    pub authorization_endpoint: Url,
    /// Where authorization codes are exchanged (absent for implicit-only providers).
    pub token_endpoint: Option<Url>,
    /// RP-initiated logout endpoint (absent e.g. for Cognito, whose logout is not standard).
    pub end_session_endpoint: Option<Url>,
    /// `token_endpoint_auth_methods_supported` (empty when not advertised).
    pub token_auth_methods: Vec<String>,
}

impl OidcProvider {
    /// How a confidential client authenticates at the token endpoint: `client_secret_basic`
    /// unless the provider advertises only `client_secret_post` (OIDC's default is basic).
    pub fn prefers_client_secret_post(&self) -> bool {
        let has = |m: &str| self.token_auth_methods.iter().any(|x| x == m);
        !has("client_secret_basic") && has("client_secret_post")
    }
}

/// Why discovery failed (logged, then retried).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DiscoveryFailure(String);

/// Fetches the discovery document and the JWKS it names. The JWKS that openidconnect fetched
/// is returned too so the key cache starts warm (one JWKS request, not two).
pub(crate) async fn discover(
    http: &HttpClient,
    issuer_url: &str,
    allow_insecure_http: bool,
) -> Result<(OidcProvider, KeySet), DiscoveryFailure> {
    let issuer = IssuerUrl::new(issuer_url.to_owned())
        .map_err(|e| DiscoveryFailure(format!("issuer URL: {e}")))?;
    let metadata = ProviderMetadataWithLogout::discover_async(issuer, http)
        .await
        .map_err(|e| DiscoveryFailure(error_chain(&e)))?;

    let jwks_uri = Url::parse(metadata.jwks_uri().as_str())
        .map_err(|e| DiscoveryFailure(format!("jwks_uri: {e}")))?;
    let issuer_is_https = issuer_url.starts_with("https://");
    if issuer_is_https && jwks_uri.scheme() != "https" && !allow_insecure_http {
        return Err(DiscoveryFailure(
            "jwks_uri must be https for an https issuer".into(),
        ));
    }
    let keys = serde_json::to_value(metadata.jwks())
        .ok()
        .and_then(|v| match v.get("keys") {
            Some(serde_json::Value::Array(keys)) => Some(KeySet::from_values(keys.clone())),
            _ => None,
        })
        .unwrap_or_default();
    let provider = OidcProvider {
        issuer: issuer_url.to_owned(),
        jwks_uri,
        authorization_endpoint: metadata.authorization_endpoint().url().clone(),
        token_endpoint: metadata.token_endpoint().map(|t| t.url().clone()),
        end_session_endpoint: metadata
            .additional_metadata()
            .end_session_endpoint
            .as_ref()
            .map(|e| e.url().clone()),
        token_auth_methods: metadata
            .token_endpoint_auth_methods_supported()
            .map(|methods| {
                methods
                    .iter()
                    .map(|m: &CoreClientAuthMethod| m.as_ref().to_owned())
                    .collect()
            })
            .unwrap_or_default(),
    };
    Ok((provider, keys))
}

/// `Display` of an error and its sources, joined (openidconnect's own text is terse).
pub(crate) fn error_chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
