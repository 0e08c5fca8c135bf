//! The OpenAPI document: committed and current, complete, and its UIs served without a CDN.

use haven_tests::{spawn_app, spawn_app_with};
use serde_json::Value;

fn committed_spec() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    std::fs::read_to_string(path).expect("docs/openapi.json is committed")
}

#[test]
fn the_committed_openapi_document_is_the_one_the_code_generates() {
    assert!(
        committed_spec() == haven_api::openapi::spec_json(),
        "docs/openapi.json is out of date: run `cargo run -q -p haven-api --bin haven -- openapi > docs/openapi.json`"
    );
}

#[test]
fn every_operation_has_an_id_a_tag_a_description_and_documented_responses() {
    let spec: Value = serde_json::from_str(&haven_api::openapi::spec_json()).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = spec["paths"].as_object().expect("paths");
    assert!(!paths.is_empty());
    let mut ids = std::collections::HashSet::new();
    for (path, item) in paths {
        assert!(path.starts_with("/api/v1/"), "{path} is under /api/v1");
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: operationId"));
            assert!(ids.insert(id.to_owned()), "duplicate operationId {id}");
            assert!(
                operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{id}: tags"
            );
            assert!(
                operation["description"].is_string() || operation["summary"].is_string(),
                "{id}: description"
            );
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{id}: responses"
            );
        }
    }
    assert!(spec["components"]["schemas"]["ErrorEnvelope"].is_object());
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn the_served_document_is_the_generated_one_and_every_documented_route_is_routed() {
    let app = spawn_app().await;
    let served: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    let generated: Value = serde_json::from_str(&haven_api::openapi::spec_json()).unwrap();
    assert_eq!(served, generated);
    for (path, item) in generated["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            // Path parameters get a syntactically valid value; the route must exist (no 405,
            // and a 404 only from the handler, never from the router's fallback).
            let concrete = path.replace("{id}", "00000000-0000-0000-0000-000000000000");
            let request = app
                .client
                .request(method.to_uppercase().parse().unwrap(), app.url(&concrete));
            let response = request.send().await.unwrap();
            assert_ne!(response.status(), 405, "{method} {path} is routed");
            assert_ne!(response.status(), 404, "{method} {path} is routed");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn the_docs_uis_load_from_the_binary_with_no_external_url() {
    let app = spawn_app().await;
    for page in ["/docs/", "/redoc"] {
        let response = app.get(page).await;
        assert_eq!(response.status(), 200, "{page}");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        let html = response.text().await.unwrap();
        for scheme in ["http://", "https://", "//cdn", "//fonts."] {
            assert!(
                !html.contains(scheme),
                "{page} references an external URL: {html}"
            );
        }
        // Every script the page loads is served by us.
        for src in html
            .split("src=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
        {
            let absolute = if src.starts_with('/') {
                src.to_owned()
            } else {
                format!("{}{}", page, src.trim_start_matches("./"))
            };
            assert_eq!(
                app.get(&absolute).await.status(),
                200,
                "{page} loads {absolute}"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn docs_are_off_in_production_unless_enabled() {
    let app = spawn_app_with(|env| {
        env.insert("ENVIRONMENT".into(), "production".into());
        env.insert("OIDC_ISSUER_URL".into(), "https://idp.example.com/".into());
        env.insert("OIDC_CLIENT_ID".into(), "haven".into());
        env.remove("ENABLE_TEST_ROUTES");
    })
    .await;
    for page in ["/docs/", "/redoc", "/api/v1/openapi.json"] {
        assert_eq!(app.get(page).await.status(), 404, "{page}");
    }
    app.stop().await;
}
