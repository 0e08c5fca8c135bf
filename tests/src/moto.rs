//! A real Secrets Manager endpoint for tests: moto's server on loopback, one per test, and an
//! SDK client to create and rotate secrets in it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_secretsmanager::config::Credentials;

pub struct Moto {
    child: Option<Child>,
    pub port: u16,
    client: aws_sdk_secretsmanager::Client,
}

impl Moto {
    /// Starts moto on a free port and waits until it answers.
    pub async fn start() -> Self {
        for _ in 0..5 {
            let port = crate::free_port();
            let mut child = Command::new("moto_server")
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect(
                    "moto_server on PATH (scripts/test installs it: pip install 'moto[server]')",
                );
            let url = format!("http://127.0.0.1:{port}/moto-api/");
            let http = reqwest::Client::new();
            // Another process may take the port between `free_port` and moto's bind (tests run
            // in parallel): only a 200 from /moto-api/ while our child still runs counts.
            let up = crate::eventually(Duration::from_secs(30), || {
                let request = http.get(&url).send();
                async move {
                    request
                        .await
                        .is_ok_and(|response| response.status().is_success())
                }
            })
            .await;
            if up && matches!(child.try_wait(), Ok(None)) {
                let config = aws_config::defaults(BehaviorVersion::latest())
                    .endpoint_url(format!("http://127.0.0.1:{port}"))
                    .credentials_provider(Credentials::new("test", "test", None, None, "test"))
                    .region(Region::new("us-east-1"))
                    .load()
                    .await;
                let client = aws_sdk_secretsmanager::Client::new(&config);
                return Self {
                    child: Some(child),
                    port,
                    client,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto_server did not start");
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The variables that point the service's AWS SDK at this endpoint, as in production.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    pub async fn create_secret(&self, name: &str, value: &str) {
        self.client
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("create the secret");
    }

    pub async fn put_secret(&self, name: &str, value: &str) {
        self.client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .send()
            .await
            .expect("put a new value");
    }

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
