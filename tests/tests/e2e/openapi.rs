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
        committed_spec() == haven_api::router::spec_json(),
        "docs/openapi.json is out of date: run `cargo run -q -p haven-api --bin haven -- openapi > docs/openapi.json`"
    );
}

#[test]
fn every_operation_has_an_id_a_tag_a_description_and_documented_responses() {
    let spec: Value = serde_json::from_str(&haven_api::router::spec_json()).unwrap();
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
    let generated: Value = serde_json::from_str(&haven_api::router::spec_json()).unwrap();
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

/// Every `.rs` file under `dir`, with its path relative to `dir`.
fn rust_sources(dir: &std::path::Path, into: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            rust_sources(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push((
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
}

/// The string literal right after each `needle` in `text` (whitespace allowed before it).
fn literals_after<'t>(text: &'t str, needle: &str) -> Vec<&'t str> {
    text.match_indices(needle)
        .filter_map(|(at, _)| {
            let rest = text[at + needle.len()..].trim_start();
            let rest = rest.strip_prefix('"')?;
            rest.split('"').next()
        })
        .collect()
}

/// Routes registered outside utoipa's `routes!` on purpose, and why they are not operations
/// of the document: the docs UIs themselves (mounted only with DOCS_ENABLED; the document at
/// /api/v1/openapi.json is theirs too), test-only routes (ENABLE_TEST_ROUTES, refused in
/// production), and the metrics listener (a private port, never the public router).
const UNDOCUMENTED_ON_PURPOSE: [&str; 3] = ["docs.rs", "testing.rs", "metrics.rs"];

#[test]
fn every_route_the_code_registers_is_in_the_document_and_every_documented_handler_is_routed() {
    let spec: Value = serde_json::from_str(&haven_api::router::spec_json()).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    let operations: std::collections::BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (path.clone(), method.clone()))
        })
        .collect();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/api/src");
    let mut sources = Vec::new();
    rust_sources(&src, &mut sources);
    assert!(sources.len() > 20, "found the sources in {}", src.display());

    // Plain axum registrations bypass the document: each must be one of the known exceptions
    // or a path the document has.
    let mut undocumented = Vec::new();
    for (file, text) in &sources {
        let exempt = UNDOCUMENTED_ON_PURPOSE
            .iter()
            .any(|name| file.ends_with(&format!("/{name}")));
        for needle in [".route(", ".route_service(", ".nest_service("] {
            for path in literals_after(text, needle) {
                let documented =
                    paths.contains_key(path) || paths.contains_key(&format!("/api/v1{path}"));
                if !exempt && !documented {
                    undocumented.push(format!("{file}: {needle}\"{path}\""));
                }
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI document: {undocumented:#?}"
    );

    // Every annotated handler is registered through routes! (its operation is in the
    // document), and the document has no operation without an annotated handler.
    let mut annotated = std::collections::BTreeSet::new();
    for (file, text) in &sources {
        for (at, _) in text.match_indices("#[utoipa::path(") {
            let args = &text[at + "#[utoipa::path(".len()..];
            let method = args
                .split(|c: char| c == ',' || c.is_whitespace())
                .next()
                .unwrap()
                .to_owned();
            let path = literals_after(args, "path =")
                .first()
                .copied()
                .unwrap_or_else(|| panic!("{file}: utoipa::path without a path"));
            // Handlers write their paths in full, `/api/v1` included (router::api_routes).
            annotated.insert((path.to_owned(), method));
        }
    }
    assert_eq!(
        annotated, operations,
        "annotated handlers (left) and the document's operations (right) differ"
    );
}

#[tokio::test]
async fn each_documented_path_allows_exactly_its_documented_methods() {
    // Authenticated, since the protected routes check the token before the method.
    let idp = haven_tests::idp::Idp::start();
    let issuer = idp.issuer.clone();
    let app = spawn_app_with(move |env| {
        env.insert("OIDC_ISSUER_URL".into(), issuer);
        env.insert("OIDC_CLIENT_ID".into(), haven_tests::idp::CLIENT_ID.into());
    })
    .await;
    let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    haven_db::tenants::admin_create(&pool, "org-1", "Org One")
        .await
        .unwrap();
    pool.close().await;
    let token = idp.token(serde_json::json!({})).await;
    crate::hardening::wait_for_token_checks(&app.client, &app.address, &token).await;
    let spec: Value = serde_json::from_str(&haven_api::router::spec_json()).unwrap();
    for (path, item) in spec["paths"].as_object().unwrap() {
        let mut documented: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        // axum answers HEAD wherever it answers GET.
        if documented.iter().any(|m| m == "GET") {
            documented.push("HEAD".into());
        }
        documented.sort();
        assert!(!documented.iter().any(|m| m == "PUT"), "{path}: no PUT");
        let concrete = path.replace("{id}", "00000000-0000-0000-0000-000000000000");
        // The router's 405 lists in Allow every method it routes for the path.
        let response = app
            .client
            .put(app.url(&concrete))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{path}");
        let mut allowed: Vec<String> = response.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_owned())
            .collect();
        allowed.sort();
        assert_eq!(allowed, documented, "{path}: routed (left) vs documented");
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

/// The response object itself, following a `$ref` into `components.responses`.
fn resolve<'s>(spec: &'s Value, response: &'s Value) -> &'s Value {
    match response["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            &spec["components"]["responses"][name]
        }
        None => response,
    }
}

#[test]
fn every_documented_error_response_has_an_example_envelope_with_a_code_of_its_status() {
    let spec: Value = serde_json::from_str(&haven_api::router::spec_json()).unwrap();
    let mut statuses = std::collections::BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                let code: u16 = status.parse().unwrap();
                let json = &resolve(&spec, response)["content"]["application/json"];
                if code < 400 || json["schema"]["$ref"] != "#/components/schemas/ErrorEnvelope" {
                    continue;
                }
                let example = &json["example"]["error"];
                let registered = example["code"]
                    .as_str()
                    .and_then(haven_api::error::codes::by_code)
                    .unwrap_or_else(|| panic!("{method} {path} {status}: example {json}"));
                assert_eq!(
                    registered.status.as_u16(),
                    code,
                    "{method} {path} {status}: {example}"
                );
                assert_eq!(example["message"], registered.message);
                // The example shows a code the response names; 403 and 503 stand for
                // unrelated failures, so theirs must name one.
                let description = resolve(&spec, response)["description"].as_str().unwrap();
                let named: Vec<&str> = haven_api::error::codes::ALL
                    .iter()
                    .filter(|c| c.status.as_u16() == code && description.contains(c.code))
                    .map(|c| c.code)
                    .collect();
                assert!(
                    named.contains(&registered.code)
                        || (named.is_empty() && ![403, 503].contains(&code)),
                    "{method} {path} {status}: example {} for {description:?}",
                    registered.code
                );
                assert!(example["request_id"].is_string());
                let details = example["details"].as_array().unwrap();
                assert_eq!(
                    !details.is_empty(),
                    registered.code == "VAL_001",
                    "{method} {path} {status}: details only for validation errors"
                );
                statuses.insert(code);
            }
        }
    }
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        [
            400, 401, 403, 404, 408, 409, 413, 415, 422, 429, 500, 502, 503, 504
        ],
        "every error status the document declares has examples"
    );
}

#[tokio::test]
async fn the_served_document_names_the_configured_issuers_discovery_url() {
    let idp = haven_tests::idp::Idp::start();
    let issuer = idp.issuer.clone();
    let app = spawn_app_with(move |env| {
        env.insert("OIDC_ISSUER_URL".into(), issuer);
        env.insert("OIDC_CLIENT_ID".into(), haven_tests::idp::CLIENT_ID.into());
    })
    .await;
    let served: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    let description = served["components"]["securitySchemes"]["bearer"]["description"]
        .as_str()
        .unwrap()
        .to_owned();
    let discovery = format!(
        "{}/.well-known/openid-configuration",
        idp.issuer.trim_end_matches('/')
    );
    assert!(
        description.contains(&format!("<{discovery}>")),
        "{description}"
    );
    // It is the real discovery document of that issuer.
    let document: Value = reqwest::get(&discovery)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["issuer"], idp.issuer.as_str());
    // Nothing else differs from the committed, deployment-free document, which keeps the
    // placeholder.
    let mut generated: Value = serde_json::from_str(&haven_api::router::spec_json()).unwrap();
    let placeholder = &mut generated["components"]["securitySchemes"]["bearer"]["description"];
    assert!(
        placeholder
            .as_str()
            .unwrap()
            .contains("`{OIDC_ISSUER_URL}/.well-known/openid-configuration`")
    );
    *placeholder = Value::String(description);
    assert_eq!(served, generated);
    // An issuer with a trailing slash is joined without doubling it, as discovery does.
    assert_eq!(
        haven_api::openapi::discovery_url("https://tenant.auth0.com/").as_deref(),
        Some("https://tenant.auth0.com/.well-known/openid-configuration")
    );
    app.stop().await;
}
