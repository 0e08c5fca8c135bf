//! `SecretsClient` against a real Secrets Manager API (moto): loading, errors, retries.

mod rotation;
mod support;

use std::time::{Duration, Instant};

use haven_secrets::{DATABASE_URL, ExposeSecret, OIDC_CLIENT_SECRET, SecretsClient, SecretsError};
use haven_tests::{ClosingEndpoint, Moto};
use support::{create_binary_secret, create_secret, sdk_config, settings};

const SECRET_ID: &str = "haven/test/app";

fn exposed(value: Option<&haven_secrets::SecretString>) -> Option<&str> {
    value.map(|secret| secret.expose_secret())
}

#[tokio::test]
async fn a_json_secret_loads_into_the_typed_fields_and_extra() {
    let moto = Moto::start().await;
    let config = sdk_config(&moto.endpoint()).await;
    let text = r#"{"OIDC_CLIENT_SECRET":"oidc-7c1e","DATABASE_URL":"postgres://app:pw@db/haven","WEBHOOK_KEY":"whk-3d"}"#;
    create_secret(&config, SECRET_ID, text).await;
    let mut settings = settings(SECRET_ID);
    settings.required_keys = vec![OIDC_CLIENT_SECRET, DATABASE_URL];

    let secrets = SecretsClient::from_sdk_config(&config, settings)
        .load_with_retry()
        .await
        .expect("the secret loads");

    assert_eq!(
        exposed(secrets.oidc_client_secret.as_ref()),
        Some("oidc-7c1e")
    );
    assert_eq!(
        exposed(secrets.database_url.as_ref()),
        Some("postgres://app:pw@db/haven")
    );
    assert_eq!(exposed(secrets.extra.get("WEBHOOK_KEY")), Some("whk-3d"));
    assert_eq!(
        secrets.key_names(),
        [DATABASE_URL, OIDC_CLIENT_SECRET, "WEBHOOK_KEY"]
    );
}

#[tokio::test]
async fn a_missing_secret_is_not_found_at_once_without_retrying() {
    let moto = Moto::start().await;
    let config = sdk_config(&moto.endpoint()).await;
    let mut settings = settings("haven/test/absent");
    settings.retry_budget = Duration::from_secs(30);
    let client = SecretsClient::from_sdk_config(&config, settings);

    let started = Instant::now();
    let error = client.load_with_retry().await.expect_err("no such secret");

    assert_eq!(
        error,
        SecretsError::NotFound {
            secret_id: "haven/test/absent".into()
        }
    );
    assert!(!error.is_transient());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn malformed_non_object_and_binary_secrets_are_malformed_without_echoing_values() {
    let moto = Moto::start().await;
    let config = sdk_config(&moto.endpoint()).await;
    let cases = [
        (
            "haven/test/truncated",
            r#"{"OIDC_CLIENT_SECRET": "leak-a1b2""#,
        ),
        ("haven/test/not-json", "leak-a1b2 is not json"),
        ("haven/test/array", r#"["OIDC_CLIENT_SECRET", "leak-a1b2"]"#),
        ("haven/test/string", r#""leak-a1b2""#),
    ];
    for (name, text) in cases {
        create_secret(&config, name, text).await;
    }
    create_binary_secret(
        &config,
        "haven/test/binary",
        br#"{"OIDC_CLIENT_SECRET":"leak-a1b2"}"#,
    )
    .await;

    let names = cases
        .iter()
        .map(|(name, _)| *name)
        .chain(["haven/test/binary"]);
    for name in names {
        let client = SecretsClient::from_sdk_config(&config, settings(name));
        let error = client.load_with_retry().await.expect_err("malformed");
        let SecretsError::Malformed { secret_id, reason } = &error else {
            panic!("{name}: expected Malformed, got {error:?}");
        };
        assert_eq!(secret_id, name);
        if name.ends_with("binary") {
            assert!(reason.contains("SecretBinary"), "{reason}");
        }
        let rendered = format!("{error} {error:?}");
        assert!(!rendered.contains("leak"), "{name}: {rendered}");
    }
}

#[tokio::test]
async fn non_string_values_and_missing_required_keys_name_the_key() {
    let moto = Moto::start().await;
    let config = sdk_config(&moto.endpoint()).await;
    create_secret(
        &config,
        "haven/test/number",
        r#"{"OIDC_CLIENT_SECRET":"o","PORT":5432}"#,
    )
    .await;
    create_secret(
        &config,
        "haven/test/no-oidc",
        r#"{"DATABASE_URL":"postgres://x"}"#,
    )
    .await;
    create_secret(
        &config,
        "haven/test/empty-oidc",
        r#"{"OIDC_CLIENT_SECRET":""}"#,
    )
    .await;

    let load = |name: &'static str| {
        let client = SecretsClient::from_sdk_config(&config, settings(name));
        async move { client.load_with_retry().await }
    };
    let number = load("haven/test/number").await;
    let no_oidc = load("haven/test/no-oidc").await;
    let empty = load("haven/test/empty-oidc").await;

    assert_eq!(
        number.expect_err("PORT is a number"),
        SecretsError::NotAString {
            secret_id: "haven/test/number".into(),
            key: "PORT".into()
        }
    );
    for (name, result) in [
        ("haven/test/no-oidc", no_oidc),
        ("haven/test/empty-oidc", empty),
    ] {
        assert_eq!(
            result.expect_err("OIDC_CLIENT_SECRET is required"),
            SecretsError::MissingKey {
                secret_id: name.into(),
                key: OIDC_CLIENT_SECRET.into()
            }
        );
    }
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable_within_the_retry_budget() {
    // A port this test holds: a freed port may be bound by another test's server meanwhile.
    let endpoint = ClosingEndpoint::start();
    let config = sdk_config(&endpoint.url()).await;
    let settings = settings(SECRET_ID);
    let budget = settings.retry_budget;
    let client = SecretsClient::from_sdk_config(&config, settings);

    let started = Instant::now();
    let error = client.load_with_retry().await.expect_err("nothing answers");
    let elapsed = started.elapsed();

    assert!(
        matches!(error, SecretsError::Unavailable { .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert_eq!(error.code(), "SYS_002");
    assert!(elapsed < budget + Duration::from_secs(3), "{elapsed:?}");
}

#[tokio::test]
async fn transient_failures_are_retried_more_than_once_then_reported() {
    // Each attempt is one connection, closed before an answer.
    let endpoint = ClosingEndpoint::start();
    let config = sdk_config(&endpoint.url()).await;
    let client = SecretsClient::from_sdk_config(&config, settings(SECRET_ID));

    let error = client
        .load_with_retry()
        .await
        .expect_err("connections are dropped");

    assert!(error.is_transient(), "{error:?}");
    let attempts = endpoint.connections();
    assert!(
        attempts >= 2,
        "expected retries, saw {attempts} connection(s)"
    );
}
