//! The production constructor (`SecretsClient::new`) reaching moto through the standard
//! `AWS_ENDPOINT_URL*` variables, in a child process so no test touches its own environment.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::{Moto, create_secret, free_port, sdk_config};

const SECRET_ID: &str = "haven/test/env";
const OIDC_VALUE: &str = "oidc-env-5e9f01";
const DB_VALUE: &str = "postgres://app:db-pw-61c2@db/haven";
const EXTRA_VALUE: &str = "extra-env-0d7a33";

/// The `load_secret` example, built by this cargo if `cargo test` has not built it already.
fn example_binary() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "haven-secrets",
                "--example",
                "load_secret",
            ])
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the load_secret example failed");
        // The test binary lives in target/<profile>/deps; examples in target/<profile>/examples.
        let exe = std::env::current_exe().expect("test binary path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile> directory");
        let path = profile_dir.join("examples").join("load_secret");
        assert!(path.exists(), "{} missing", path.display());
        path
    })
}

/// Runs the example with a clean environment: a region, IMDS off, and `env`.
fn run_example(retry_budget_ms: &str, env: &[(&str, String)]) -> Output {
    Command::new(example_binary())
        .args([SECRET_ID, retry_budget_ms])
        .env_clear()
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().map(|(key, value)| (key, value)))
        .output()
        .expect("run the load_secret example")
}

/// `env` plus moto's dummy credentials.
fn with_credentials<'a>(env: &[(&'a str, String)]) -> Vec<(&'a str, String)> {
    let mut all = vec![
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
    ];
    all.extend_from_slice(env);
    all
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn moto_with_secret() -> Moto {
    let moto = Moto::start();
    let config = sdk_config(&moto.endpoint()).await;
    let secret = format!(
        r#"{{"OIDC_CLIENT_SECRET":"{OIDC_VALUE}","DATABASE_URL":"{DB_VALUE}","WEBHOOK_KEY":"{EXTRA_VALUE}"}}"#
    );
    create_secret(&config, SECRET_ID, &secret).await;
    moto
}

fn assert_loaded_without_leaking(output: &Output) {
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["DATABASE_URL", "OIDC_CLIENT_SECRET", "WEBHOOK_KEY"]
    );
    // The unknown key is reported by name on stderr, its value nowhere.
    assert!(stderr.contains("WEBHOOK_KEY"), "{stderr}");
    for value in [OIDC_VALUE, DB_VALUE, EXTRA_VALUE, "db-pw-61c2"] {
        assert!(!stdout.contains(value), "{value} leaked to stdout");
        assert!(!stderr.contains(value), "{value} leaked to stderr");
    }
}

#[tokio::test]
async fn the_production_client_follows_aws_endpoint_url_and_prints_only_key_names() {
    let moto = moto_with_secret().await;

    let output = run_example(
        "3000",
        &with_credentials(&[("AWS_ENDPOINT_URL", moto.endpoint())]),
    );

    assert_loaded_without_leaking(&output);
}

#[tokio::test]
async fn the_secrets_manager_endpoint_variable_wins_over_aws_endpoint_url() {
    let moto = moto_with_secret().await;
    let nowhere = format!("http://127.0.0.1:{}", free_port());

    let output = run_example(
        "3000",
        &with_credentials(&[
            ("AWS_ENDPOINT_URL", nowhere),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.endpoint()),
        ]),
    );

    assert_loaded_without_leaking(&output);
}

#[tokio::test]
async fn a_dead_aws_endpoint_url_fails_the_load_as_unavailable() {
    // The control for the test above: the same dead endpoint, alone, does route the client.
    let nowhere = format!("http://127.0.0.1:{}", free_port());

    let output = run_example("2000", &with_credentials(&[("AWS_ENDPOINT_URL", nowhere)]));

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error SYS_002"), "{stderr}");
    assert!(stderr.contains("is unavailable"), "{stderr}");
}

#[tokio::test]
async fn a_missing_secret_exits_non_zero_with_the_error() {
    let moto = Moto::start();

    let output = run_example(
        "3000",
        &with_credentials(&[("AWS_ENDPOINT_URL", moto.endpoint())]),
    );

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(
        stderr.contains(r#"error SYS_002: secret "haven/test/env" was not found"#),
        "{stderr}"
    );
}

#[tokio::test]
async fn missing_credentials_fail_at_once_without_spending_the_retry_budget() {
    let moto = Moto::start();
    let started = Instant::now();

    let output = run_example("30000", &[("AWS_ENDPOINT_URL", moto.endpoint())]);

    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("(no AWS credentials found)"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}
