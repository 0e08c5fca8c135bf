//! The login flow's settings: scopes, the API audience and how it is sent, refresh tokens,
//! `prompt`.

/// Which authorization-request parameter carries [`LoginSettings::api_audience`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AudienceParam {
    /// `audience=` (Auth0, Cognito-style API audiences).
    Audience,
    /// `resource=` (RFC 8707 resource indicators: Keycloak with the feature on, oidc-provider,
    /// PingFederate), sent on the authorization, code and refresh requests.
    #[default]
    Resource,
    /// Neither (Okta custom servers, Entra ID and Cognito select the API through scopes).
    None,
}

/// How `/auth/login`, `/auth/callback` and `/auth/refresh` talk to the provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginSettings {
    /// OIDC_SCOPES: requested scopes (`openid` is always added).
    pub scopes: Vec<String>,
    /// OIDC_API_AUDIENCE: the API the access token is for, sent per [`Self::audience_param`].
    pub api_audience: Option<String>,
    /// OIDC_AUDIENCE_PARAM.
    pub audience_param: AudienceParam,
    /// OIDC_REFRESH_TOKENS: request `offline_access` (refresh tokens for `/auth/refresh`).
    pub refresh_tokens: bool,
    /// OIDC_PROMPT: the `prompt` parameter, e.g. `consent` for providers that follow OIDC
    /// Core §11 strictly and grant `offline_access` only with it.
    pub prompt: Option<String>,
}

impl Default for LoginSettings {
    fn default() -> Self {
        Self {
            scopes: ["openid", "profile", "email"].map(str::to_owned).to_vec(),
            api_audience: None,
            audience_param: AudienceParam::Resource,
            refresh_tokens: false,
            prompt: None,
        }
    }
}

impl LoginSettings {
    /// The scopes sent in the authorization request: `openid` first, each once, and
    /// `offline_access` when refresh tokens are enabled.
    pub fn requested_scopes(&self) -> Vec<String> {
        let mut scopes = vec!["openid".to_owned()];
        let extra = self.refresh_tokens.then_some("offline_access");
        for scope in self.scopes.iter().map(String::as_str).chain(extra) {
            if !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_owned());
            }
        }
        scopes
    }
}
