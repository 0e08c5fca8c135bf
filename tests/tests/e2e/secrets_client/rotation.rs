//! `SecretsHandle` refreshing from a real Secrets Manager API (moto): rotation and outages.

use std::time::Duration;

use haven_secrets::{ExposeSecret, SecretsClient, SecretsHandle, SecretsStatus};
use haven_tests::Moto;

use super::support::{DEADLINE, create_secret, eventually, put_secret, sdk_config, settings};
use tokio::sync::watch;

const SECRET_ID: &str = "haven/test/rotating";
const EVERY: Duration = Duration::from_millis(200);

fn oidc(handle: &SecretsHandle) -> String {
    let current = handle.current();
    let value = current
        .oidc_client_secret
        .as_ref()
        .map(|s| s.expose_secret());
    value.unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_rotated_value_is_seen_through_the_handle_and_shutdown_stops_the_task() {
    let moto = Moto::start().await;
    let config = sdk_config(&moto.endpoint()).await;
    create_secret(&config, SECRET_ID, r#"{"OIDC_CLIENT_SECRET":"first-1a"}"#).await;
    let client = SecretsClient::from_sdk_config(&config, settings(SECRET_ID));
    let initial = client.load_with_retry().await.expect("initial load");
    let (stop, shutdown) = watch::channel(false);
    let (handle, task) =
        SecretsHandle::spawn_refresh(client, initial, EVERY, Duration::from_secs(60), shutdown);
    assert_eq!(oidc(&handle), "first-1a");

    put_secret(&config, SECRET_ID, r#"{"OIDC_CLIENT_SECRET":"second-2b"}"#).await;
    let reader = handle.clone();
    eventually("the rotated value", || oidc(&reader) == "second-2b").await;
    assert_eq!(handle.status(), SecretsStatus::Ok);

    stop.send(true).expect("the task listens");
    tokio::time::timeout(DEADLINE, task)
        .await
        .expect("the refresh task stops on shutdown")
        .expect("the refresh task does not panic");
}

#[tokio::test]
async fn a_dead_endpoint_keeps_the_last_good_value_and_turns_stale() {
    let mut moto = Moto::start().await;
    let config = sdk_config(&moto.endpoint()).await;
    create_secret(&config, SECRET_ID, r#"{"OIDC_CLIENT_SECRET":"kept-3c"}"#).await;
    let mut settings = settings(SECRET_ID);
    settings.attempt_timeout = Duration::from_millis(500);
    let client = SecretsClient::from_sdk_config(&config, settings);
    let initial = client.load_with_retry().await.expect("initial load");
    let (_stop, shutdown) = watch::channel(false);
    let stale_after = Duration::from_secs(1);
    let (handle, task) =
        SecretsHandle::spawn_refresh(client, initial, EVERY, stale_after, shutdown);
    assert_eq!(handle.status(), SecretsStatus::Ok);

    moto.stop();
    let reader = handle.clone();
    eventually("a stale status", || {
        matches!(reader.status(), SecretsStatus::Stale { .. })
    })
    .await;

    assert_eq!(oidc(&handle), "kept-3c");
    assert!(!task.is_finished(), "the task keeps trying after failures");
    drop(handle);
    drop(reader);
    tokio::time::timeout(DEADLINE, task)
        .await
        .expect("the task ends once every handle is gone")
        .expect("no panic");
}
