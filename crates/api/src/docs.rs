//! The OpenAPI document and the docs UIs (Swagger UI at /docs, ReDoc at /redoc), served from the
//! binary: no CDN, nothing fetched at build or run time. Mounted only when DOCS_ENABLED.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::OpenApi;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::state::AppState;

pub const SPEC_PATH: &str = "/api/v1/openapi.json";

/// The docs pages run scripts and styles from this origin only (ReDoc also starts a worker from
/// a blob and inlines styles); they are never framed.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The ReDoc bundle, gzip-compressed (1.1 MB as text, 0.33 MB stored): `scripts/vendor-redoc`
/// writes it from the version `assets/redoc/package.json` pins. Sent as it is stored, with
/// `Content-Encoding: gzip`, as Swagger UI's assets are: every browser that renders these pages
/// accepts gzip.
const REDOC_JS_GZ: &[u8] = include_bytes!("../assets/redoc/redoc.standalone.js.gz");

const REDOC_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Haven API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body>
<div id="redoc"></div>
<script src="/redoc/redoc.standalone.js"></script>
<script src="/redoc/init.js"></script>
</body>
</html>
"#;

const REDOC_INIT: &str = r#"Redoc.init("/api/v1/openapi.json", {hideDownloadButton: false}, document.getElementById("redoc"));
"#;

fn javascript(body: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        body,
    )
        .into_response()
}

fn gzipped_javascript(body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CONTENT_ENCODING, "gzip"),
        ],
        body,
    )
        .into_response()
}

async fn docs_csp(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    );
    response
}

/// The spec at /api/v1/openapi.json, Swagger UI at /docs, ReDoc at /redoc.
pub fn routes(spec: OpenApi) -> Router<AppState> {
    // The public validator would send our spec to a third party: off.
    let swagger = SwaggerUi::new("/docs")
        .url(SPEC_PATH, spec)
        .config(SwaggerConfig::new([SPEC_PATH]).validator_url("none"));
    Router::new()
        .route("/redoc", get(|| async { Html(REDOC_PAGE) }))
        .route(
            "/redoc/redoc.standalone.js",
            get(|| async { gzipped_javascript(REDOC_JS_GZ) }),
        )
        .route("/redoc/init.js", get(|| async { javascript(REDOC_INIT) }))
        .merge(swagger)
        .layer(middleware::map_response(docs_csp))
}
