//! The route table (and the OpenAPI document generated from it), and the router with the whole
//! middleware stack, written once, outermost first.

use std::convert::Infallible;

use axum::BoxError;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::Response;
use axum::middleware;
use tower::{Service, ServiceBuilder};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::map_request_body::MapRequestBodyLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::panic_response;
use crate::http::{cors, front};
use crate::routes::health;
use crate::state::AppState;
use crate::{limits, principal, routes, testing};

/// The documented routes of `/api/v1`, each path written in full (the OpenAPI document is
/// generated from them). With a
/// state, the protected ones get the authentication route layer; without one (generating the
/// document) the layer is left out, which the document does not see anyway.
pub fn v1_routes(state: Option<&AppState>) -> OpenApiRouter<AppState> {
    let mut protected = OpenApiRouter::new()
        .routes(routes!(routes::auth::validate))
        .routes(routes!(routes::auth::logout))
        .routes(routes!(routes::me::me))
        .routes(routes!(routes::me::tenant))
        .routes(routes!(
            routes::documents::list::list_documents,
            routes::documents::write::create_document
        ))
        .routes(routes!(
            routes::documents::get_document,
            routes::documents::write::update_document,
            routes::documents::delete_document
        ))
        .routes(routes!(routes::documents::content::reissue_upload_url))
        .routes(routes!(routes::documents::content::complete_upload))
        .routes(routes!(routes::documents::content::download_content))
        .routes(routes!(
            routes::patients::list_patients,
            routes::patients::create_patient
        ))
        .routes(routes!(
            routes::patients::get_patient,
            routes::patients::update_patient,
            routes::patients::delete_patient
        ))
        .routes(routes!(routes::users::list_users))
        .routes(routes!(routes::user_status::disable_user))
        .routes(routes!(routes::user_status::enable_user))
        .routes(routes!(routes::audit::list_audit_events))
        .routes(routes!(routes::audit::verify_audit_events));
    if let Some(state) = state {
        // Per-principal rate limit. Route layers added later run first, so this one runs
        // inside require_auth, which it needs for the Principal (limits/rate.rs).
        protected = protected.route_layer(middleware::from_fn_with_state(
            crate::limits::PrincipalLimits::from_config(
                &state.config.limits,
                state.shared_limits.clone(),
            ),
            crate::limits::per_principal,
        ));
        // A route layer: it runs only for matched routes, so unknown paths stay 404.
        protected = protected.route_layer(middleware::from_fn_with_state(
            state.clone(),
            principal::require_auth,
        ));
    }
    OpenApiRouter::new()
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(routes::auth::login))
        .routes(routes!(routes::auth::callback))
        .routes(routes!(routes::auth::refresh))
        .merge(protected)
}

/// Every documented route under `/api/v1`, with its OpenAPI description.
pub fn api_routes(state: Option<&AppState>) -> OpenApiRouter<AppState> {
    // The handlers' paths carry the `/api/v1` prefix themselves: `nest` would wrap every route
    // in one more boxed service, cloned per request (docs/PERFORMANCE.md).
    let mut routes =
        OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi()).merge(v1_routes(state));
    // The layers' own answers (429, 503, 504, 413, 415), on every operation.
    crate::limits::document_limit_responses(routes.get_openapi_mut());
    // Last, so the shared responses above get theirs too.
    crate::openapi::examples::add_error_examples(routes.get_openapi_mut());
    routes
}

/// The document as served at /api/v1/openapi.json and printed by `haven openapi`.
pub fn spec() -> utoipa::openapi::OpenApi {
    api_routes(None).into_openapi()
}

/// Pretty JSON with a trailing newline: the form committed as docs/openapi.json.
pub fn spec_json() -> String {
    let mut text = spec().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

/// The whole service: the routes, then the middleware stack around them (outermost first).
///
/// The stack wraps the router as one service rather than through `Router::layer`, which would
/// wrap every route in it and clone the whole stack, boxed, for every request; only the matched
/// route layer stays on the routes.
pub fn router(
    state: AppState,
) -> impl Service<
    Request,
    Response = Response<impl HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    let config = state.config.clone();
    let (mut app, spec) = api_routes(Some(&state)).split_for_parts();
    // Probe paths of other stacks answer 404 naming the real probes (routes/health.rs); not in
    // the spec.
    for path in health::OTHER_STACKS_PROBES {
        app = app.route(path, axum::routing::get(health::not_a_probe));
    }
    if config.test_routes_enabled {
        app = app.nest("/api/v1", testing::routes());
    }
    if config.docs_enabled {
        let issuer = config.auth.as_ref().map(|a| a.issuer_url.as_str());
        app = app.merge(crate::docs::routes(crate::openapi::for_deployment(
            spec, issuer,
        )));
    }
    let app = app
        // After routing, so it sees the matched template; unknown paths keep no route.
        .route_layer(front::MatchedRouteLayer)
        .with_state(state.clone());
    ServiceBuilder::new()
        // Outermost, so it sees the final body (envelopes included): JSON and NDJSON over
        // 1 KiB in gzip or br as the client asks; probes and the login flow never, and
        // never a 406 after the handler ran; other responses pass untouched (compression.rs).
        .layer(crate::compression::layer())
        // Outermost, one service for the per-request work every response needs, in
        // this order (front.rs): the request id (on every response, errors included); the
        // client's address (X-Forwarded-For only from trusted proxies); the request span
        // and its one log line; the envelope for every 4xx/5xx; metrics, which still see
        // a handler's error code; security headers, outside every layer below that can
        // answer by itself (panic, timeout, body limit).
        .layer(front::FrontLayer::new(front::FrontSettings {
            trusted_proxies: config.trusted_proxies.clone(),
            production: config.is_production(),
        }))
        // Browsers may call us only from the configured origins; outside the layers that
        // answer by themselves too, so a browser can read a 413, 500 or 504's envelope.
        .layer(cors::CorsLayer::new(cors::rules(&config.allowed_origins)))
        // A panicking handler becomes a 500 in the envelope, not a dropped connection.
        .layer(CatchPanicLayer::custom(panic_response))
        // No request holds a worker forever: 504 when we were slow, 408 when the
        // client was (its body still arriving), so a slow client is no server alarm.
        .layer(limits::deadline(config.request_timeout))
        // Bodies are capped before any handler buffers them (413).
        .layer(RequestBodyLimitLayer::new(config.body_limit_bytes))
        // ...and the limited body is handed on as axum's own body type.
        .layer(MapRequestBodyLayer::new(Body::new))
        // Overload is shed at once (503 + Retry-After) rather than queued; probes pass.
        .layer(limits::shed_overload(limits::ConcurrencyCap::new(
            config.limits.max_concurrent_requests,
        )))
        // Per client IP: requests without credentials and authentication failures
        // (the per-principal limit is a route layer inside require_auth). Probes pass.
        .layer(limits::per_ip(limits::IpLimits::from_config(
            &config.limits,
            state.shared_limits.clone(),
        )))
        .service(app)
}
