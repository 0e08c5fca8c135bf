//! The release's version is one number everywhere a client or an operator looks: `haven
//! --version`, the health answers, the OpenAPI `info.version` (served and committed) and the
//! newest release in CHANGELOG.md.

use haven_tests::{haven_binary, spawn_app};
use serde_json::Value;

const VERSION: &str = env!("CARGO_PKG_VERSION");

#[tokio::test]
async fn haven_version_the_health_answers_and_the_openapi_document_report_the_crate_version() {
    assert_eq!(haven_api::VERSION, VERSION, "one workspace version");
    let output = std::process::Command::new(haven_binary())
        .arg("--version")
        .env_clear()
        .output()
        .expect("haven --version runs");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!("haven {VERSION}\n")
    );

    let app = spawn_app().await;
    for path in ["/api/v1/health/live", "/api/v1/health/ready"] {
        let body: Value = app.get(path).await.json().await.unwrap();
        assert_eq!(body["version"], VERSION, "{path}");
    }
    let served: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    assert_eq!(served["info"]["version"], VERSION);
    app.stop().await;

    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(committed["info"]["version"], VERSION);
}

#[test]
fn the_changelog_keeps_an_unreleased_section_and_names_the_crate_version_as_the_newest_release() {
    let changelog =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../CHANGELOG.md"))
            .expect("CHANGELOG.md");
    let releases: Vec<&str> = changelog
        .lines()
        .filter_map(|line| line.strip_prefix("## ["))
        .filter_map(|rest| rest.split_once(']').map(|(name, _)| name))
        .collect();
    assert_eq!(releases.first(), Some(&"Unreleased"), "{releases:?}");
    assert_eq!(releases.get(1), Some(&VERSION), "{releases:?}");
}

#[tokio::test]
async fn the_probe_paths_of_other_stacks_answer_404_naming_the_real_probes() {
    let app = spawn_app().await;
    for path in ["/health", "/api/v1/health"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "RES_001", "{path}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("/api/v1/health/live") && message.contains("/api/v1/health/ready"),
            "{path}: {message}"
        );
    }
    app.stop().await;
}
