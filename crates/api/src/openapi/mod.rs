//! The OpenAPI 3.1 document, generated from the handlers' annotations (utoipa).

pub(crate) mod examples;

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

/// The error envelope every non-2xx response carries.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"error": {"code": "AUTH_003", "message": "Authentication token has expired",
    "request_id": "3f1c9a1e-5b0e-4b8e-9a43-2f1d1c0e9b7a", "details": []}}))]
pub struct ErrorEnvelope {
    pub error: ErrorObject,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorObject {
    /// A stable code from the registry (docs/ERROR_CODES.md).
    pub code: String,
    pub message: String,
    /// Equals the response's `X-Request-ID` header.
    pub request_id: String,
    /// Field-level problems for validation errors; empty otherwise.
    pub details: Vec<FieldErrorSchema>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = FieldError)]
pub struct FieldErrorSchema {
    pub field: String,
    pub message: String,
}

/// The refusals of every operation behind the auth extractor and a role check, for a handler's
/// `responses(...)`: 401 for a missing or bad token, 403 AUTH_009 for roles that do not allow it.
#[derive(IntoResponses)]
pub enum Denied {
    #[response(status = 401, description = "Missing or invalid token")]
    Unauthorized(ErrorEnvelope),
    #[response(
        status = 403,
        description = "The caller's roles do not allow this operation (AUTH_009)"
    )]
    Forbidden(ErrorEnvelope),
}

/// 404 RES_001 of an operation on one resource by id: missing, deleted or another tenant's.
#[derive(IntoResponses)]
#[response(
    status = 404,
    description = "No such resource in the caller's tenant (RES_001)"
)]
pub struct NotFound(pub ErrorEnvelope);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Haven API",
        description = "Multi-tenant, HIPAA-style REST API. Every non-2xx response carries the error envelope.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    servers((url = "/", description = "This server")),
    tags(
        (name = "health", description = "Liveness and readiness probes"),
        (name = "auth", description = "Token validation and the authorization-code login flow"),
        (name = "identity", description = "The caller and the caller's tenant"),
        (name = "documents", description = "Document metadata of the caller's tenant; every access is audited"),
        (name = "patients", description = "Patients of the caller's tenant; every access is audited"),
        (name = "users", description = "Users of the caller's tenant (admins)"),
        (name = "audit", description = "The tenant's tamper-evident audit trail (admins and auditors)"),
    ),
    components(schemas(ErrorEnvelope, ErrorObject, FieldErrorSchema)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

/// The name of the security scheme every authenticated operation refers to.
pub const BEARER_SCHEME: &str = "bearer";

/// Where the committed document says the discovery document is: it cannot know the issuer.
const GENERIC_DISCOVERY: &str = "`{OIDC_ISSUER_URL}/.well-known/openid-configuration`";

fn bearer_scheme(discovery: &str) -> SecurityScheme {
    SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .description(Some(format!(
                "An OIDC access token from the configured identity provider, whose discovery \
                 document is {discovery} (docs/AUTH_CONFIGURATION.md). The tenant and roles come \
                 from its claims."
            )))
            .build(),
    )
}

/// Declares the bearer scheme every authenticated operation refers to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(BEARER_SCHEME, bearer_scheme(GENERIC_DISCOVERY));
    }
}

/// The discovery URL the service fetches for `issuer_url` (the issuer exactly as configured,
/// joined as the `openidconnect` crate joins it: no doubled slash after a trailing one).
pub fn discovery_url(issuer_url: &str) -> Option<String> {
    openidconnect::IssuerUrl::new(issuer_url.to_owned())
        .and_then(|issuer| issuer.join(".well-known/openid-configuration"))
        .ok()
        .map(String::from)
}

/// The document as this deployment serves it: with an issuer configured, the bearer scheme
/// names its real discovery URL. Without one it is the committed, deployment-free document.
pub fn for_deployment(
    mut spec: utoipa::openapi::OpenApi,
    issuer_url: Option<&str>,
) -> utoipa::openapi::OpenApi {
    if let Some(url) = issuer_url.and_then(discovery_url) {
        let components = spec.components.get_or_insert_with(Default::default);
        components.add_security_scheme(BEARER_SCHEME, bearer_scheme(&format!("<{url}>")));
    }
    spec
}

/// Every operation of a path item (the methods a path documents), for passes that amend them all.
pub(crate) fn operations_mut(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
    ]
    .into_iter()
    .flatten()
}
