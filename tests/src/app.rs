//! The application started in-process on port 0, as production starts it.

use std::collections::HashMap;

use haven_api::{Application, Config};
use tokio::sync::oneshot;

use crate::db::TestDatabase;

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub db: TestDatabase,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// The local PHI master key of every test app (32 bytes, base64): encryption is on in every
/// test unless one turns it off.
pub const TEST_PHI_MASTER_KEY: &str = "aGF2ZW4tdGVzdC1waGktbWFzdGVyLWtleS0zMmJ5dGU=";

/// The environment every test app starts from; tests add or override variables.
pub fn base_env(database_url: &str) -> HashMap<String, String> {
    [
        ("DATABASE_URL", database_url),
        ("PHI_ENCRYPTION", "local"),
        ("PHI_LOCAL_MASTER_KEY", TEST_PHI_MASTER_KEY),
        // Tests that run as production keep the local key (KMS is tested in tests/e2e/phi).
        ("PHI_ALLOW_LOCAL_MASTER_KEY", "true"),
        ("ENVIRONMENT", "development"),
        ("ENABLE_TEST_ROUTES", "true"),
        ("LOG_LEVEL", "warn"),
        ("SHUTDOWN_GRACE_SECONDS", "5"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app on a fresh database; `adjust` may change the environment first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut HashMap<String, String>)) -> TestApp {
    let db = TestDatabase::create().await;
    let mut env = base_env(&db.url);
    adjust(&mut env);
    let mut config = Config::from_map(&env).expect("test configuration is valid");
    config.port = 0;
    haven_api::telemetry::init(&config.log_level);
    let app = Application::build(config)
        .await
        .expect("the application starts");
    let port = app.port();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        db,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        stop: Some(stop),
        server: Some(server),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// Stops the server as a signal would and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}
