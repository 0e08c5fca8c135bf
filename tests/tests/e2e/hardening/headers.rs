//! Security headers on a normal, an error and a docs response; HSTS only in production.

use haven_tests::{TestApp, spawn_app, spawn_app_with};

use super::header;

const PATHS: [(&str, u16); 3] = [
    ("/api/v1/health/live", 200),
    ("/api/v1/no-such-route", 404),
    ("/redoc", 200),
];

async fn check_every_kind_of_response(app: &TestApp, production: bool) {
    for (path, status) in PATHS {
        let response = app.get(path).await;
        assert_eq!(response.status().as_u16(), status, "{path}");
        let headers = response.headers();
        assert_eq!(
            header(headers, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
        assert_eq!(header(headers, "x-frame-options"), "DENY", "{path}");
        assert_eq!(header(headers, "referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header(headers, "cache-control"), "no-store", "{path}");
        let csp = header(headers, "content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        if path == "/redoc" {
            assert!(
                csp.contains("script-src 'self'"),
                "docs relax scripts only: {csp}"
            );
        } else {
            assert!(csp.starts_with("default-src 'none'"), "{path}: {csp}");
        }
        assert!(headers.get("server").is_none(), "{path}: no server banner");
        assert!(headers.get("x-powered-by").is_none(), "{path}");
        let hsts = header(headers, "strict-transport-security");
        if production {
            assert!(hsts.starts_with("max-age="), "{path}: HSTS in production");
        } else {
            assert_eq!(hsts, "", "{path}: no HSTS outside production");
        }
    }
}

#[tokio::test]
async fn normal_error_and_docs_responses_carry_the_security_headers_without_hsts_in_development() {
    let app = spawn_app().await;
    check_every_kind_of_response(&app, false).await;
    app.stop().await;
}

#[tokio::test]
async fn in_production_every_kind_of_response_also_carries_hsts() {
    let app = spawn_app_with(|env| {
        env.insert("ENVIRONMENT".into(), "production".into());
        env.remove("ENABLE_TEST_ROUTES");
        env.insert("DOCS_ENABLED".into(), "true".into());
        // Production needs an https issuer; nothing listens there (discovery retries quietly).
        env.insert("OIDC_ISSUER_URL".into(), "https://127.0.0.1:9/".into());
        env.insert("OIDC_CLIENT_ID".into(), "haven".into());
    })
    .await;
    check_every_kind_of_response(&app, true).await;
    app.stop().await;
}

#[tokio::test]
async fn responses_the_layers_make_themselves_carry_security_and_cors_headers() {
    let app = spawn_app_with(|env| {
        env.insert("ALLOWED_ORIGINS".into(), "http://localhost:3000".into());
        env.insert("REQUEST_TIMEOUT_SECONDS".into(), "2".into());
        env.insert("MAX_BODY_BYTES".into(), "2048".into());
    })
    .await;
    let origin = "http://localhost:3000";
    let panic = app
        .client
        .get(app.url("/api/v1/_test/panic"))
        .header("origin", origin);
    let timeout = app
        .client
        .get(app.url("/api/v1/_test/sleep?ms=5000"))
        .header("origin", origin);
    let too_large = app
        .client
        .post(app.url("/api/v1/auth/callback"))
        .header("origin", origin)
        .header("content-type", "application/json")
        .body(vec![b' '; 4096]);
    for (name, request, status) in [
        ("panic", panic, 500),
        ("timeout", timeout, 504),
        ("body limit", too_large, 413),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{name}");
        let headers = response.headers();
        assert_eq!(
            header(headers, "x-content-type-options"),
            "nosniff",
            "{name}"
        );
        assert_eq!(header(headers, "cache-control"), "no-store", "{name}");
        assert_eq!(
            header(headers, "access-control-allow-origin"),
            origin,
            "{name}: a browser can read it"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{name}: {body}");
    }
    app.stop().await;
}
