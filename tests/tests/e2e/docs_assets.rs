//! The docs UIs' assets are stored and sent gzip-compressed, and the ReDoc bundle is the version
//! that `crates/api/assets/redoc/package.json` pins (Dependabot bumps it; scripts/vendor-redoc
//! refreshes the bundle).

use std::io::Read;

use haven_tests::spawn_app;
use serde_json::Value;

#[tokio::test]
async fn the_docs_assets_are_served_gzip_compressed_and_redoc_is_the_pinned_version() {
    let pinned: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../crates/api/assets/redoc/package.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let version = pinned["dependencies"]["redoc"].as_str().unwrap().to_owned();
    let app = spawn_app().await;
    for asset in ["/redoc/redoc.standalone.js", "/docs/swagger-ui-bundle.js"] {
        let response = app.get(asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert_eq!(response.headers()["content-encoding"], "gzip", "{asset}");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&response.bytes().await.unwrap()[..])
            .read_to_string(&mut text)
            .unwrap();
        assert!(text.len() > 100_000, "{asset}: the whole bundle");
        if asset.starts_with("/redoc") {
            assert!(
                text.contains(&format!("\"{version}\"")),
                "the stored ReDoc bundle is not {version}: run scripts/vendor-redoc"
            );
        }
    }
    // Source maps are never loaded by the pages: not stored.
    assert_eq!(
        app.get("/docs/swagger-ui-bundle.js.map").await.status(),
        404
    );
    app.stop().await;
}
