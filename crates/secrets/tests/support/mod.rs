//! Test harness: a moto Secrets Manager server per test, and SDK configs pointed at it.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_secretsmanager::config::Credentials;
use aws_sdk_secretsmanager::primitives::Blob;
use haven_secrets::SecretsSettings;

/// Upper bound for anything a test waits for; generous because moto and the tests share cores.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A running `moto_server` on a loopback port, killed on drop.
pub struct Moto {
    child: Option<Child>,
    port: u16,
}

impl Moto {
    /// Starts moto on a free port and waits until it answers HTTP.
    pub fn start() -> Moto {
        // A port found free can be taken before moto binds it: then moto exits and we retry.
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new("moto_server")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("moto_server on PATH (pip install 'moto[server]')");
            if wait_for_http(&mut child, port) {
                return Moto {
                    child: Some(child),
                    port,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto_server did not start");
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the server and reaps it; safe to call twice.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wait_for_http(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        if answers_http(port) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn answers_http(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut status = [0u8; 7];
    stream.read_exact(&mut status).is_ok() && &status == b"HTTP/1."
}

/// A loopback port nothing listens on (at least right now).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// An SDK config for `endpoint` with dummy credentials, as the code under test receives it.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .region(Region::new("us-east-1"))
        .load()
        .await
}

/// Settings with short timeouts so failing tests fail fast.
pub fn settings(secret_id: &str) -> SecretsSettings {
    SecretsSettings {
        retry_budget: Duration::from_secs(2),
        attempt_timeout: Duration::from_secs(2),
        ..SecretsSettings::new(secret_id)
    }
}

/// Creates a secret whose `SecretString` is `text`, through the same SDK crate.
pub async fn create_secret(config: &SdkConfig, name: &str, text: &str) {
    aws_sdk_secretsmanager::Client::new(config)
        .create_secret()
        .name(name)
        .secret_string(text)
        .send()
        .await
        .expect("CreateSecret on moto");
}

/// Creates a secret stored as `SecretBinary`.
pub async fn create_binary_secret(config: &SdkConfig, name: &str, bytes: &[u8]) {
    aws_sdk_secretsmanager::Client::new(config)
        .create_secret()
        .name(name)
        .secret_binary(Blob::new(bytes))
        .send()
        .await
        .expect("CreateSecret (binary) on moto");
}

/// Stores a new current version of the secret.
pub async fn put_secret(config: &SdkConfig, name: &str, text: &str) {
    aws_sdk_secretsmanager::Client::new(config)
        .put_secret_value()
        .secret_id(name)
        .secret_string(text)
        .send()
        .await
        .expect("PutSecretValue on moto");
}

/// Polls `check` every 50 ms until it holds; panics naming `what` after [`DEADLINE`].
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
