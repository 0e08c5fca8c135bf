//! Several `haven serve` processes over one database, as a scaled-out deployment runs them.

mod invalidation;
mod phi;
mod shared_limits;

use std::collections::HashMap;
use std::time::Duration;

use haven_tests::idp::{CLIENT_ID, Idp};
use haven_tests::{HavenProcess, TestDatabase};
use serde_json::{Value, json};

/// Three replicas, the database they share and the identity provider they trust.
pub(crate) struct Cluster {
    pub replicas: Vec<HavenProcess>,
    pub db: TestDatabase,
    pub idp: Idp,
    pub client: reqwest::Client,
}

/// What one replica answered.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub code: Option<String>,
}

impl Cluster {
    /// Migrates a fresh database, creates tenant `org-1`, starts three replicas with `extra`
    /// settings and waits until each accepts a token.
    pub async fn start(extra: &[(&str, &str)]) -> Self {
        let db = TestDatabase::create().await;
        let idp = Idp::start();
        let mut env: HashMap<String, String> = haven_tests::app::base_env(&db.url);
        env.insert("OIDC_ISSUER_URL".into(), idp.issuer.clone());
        env.insert("OIDC_CLIENT_ID".into(), CLIENT_ID.into());
        env.insert("LOG_LEVEL".into(), "info".into());
        // Polling a replica until it refuses spends the per-IP budget of failed requests.
        env.insert("RATE_LIMIT_ANON_BURST".into(), "1000".into());
        for (k, v) in extra {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        let migrated = run(&["migrate", "up"], &env);
        assert_eq!(migrated.0, Some(0), "{}", migrated.2);
        let created = run(
            &[
                "tenants",
                "create",
                "--external-id",
                "org-1",
                "--name",
                "One",
            ],
            &env,
        );
        assert_eq!(created.0, Some(0), "{}", created.2);
        env.insert("RUN_MIGRATIONS_ON_START".into(), "false".into());
        let replicas: Vec<HavenProcess> = (0..3)
            .map(|_| HavenProcess::spawn(&["serve"], &env))
            .collect();
        let cluster = Self {
            replicas,
            db,
            idp,
            client: reqwest::Client::new(),
        };
        for replica in &cluster.replicas {
            assert!(
                replica.wait_ready(Duration::from_secs(30)).await,
                "replica ready"
            );
        }
        let token = cluster.token("warm-up").await;
        for at in 0..3 {
            assert!(
                cluster
                    .eventually_on(at, Duration::from_secs(15), &token, |a| a.status == 200)
                    .await,
                "replica {at} discovered the identity provider"
            );
        }
        cluster.wait_listeners(3).await;
        cluster
    }

    /// The environment the replicas run with (for operator commands).
    pub fn env(&self) -> HashMap<String, String> {
        let mut env = haven_tests::app::base_env(&self.db.url);
        env.insert("OIDC_ISSUER_URL".into(), self.idp.issuer.clone());
        env.insert("OIDC_CLIENT_ID".into(), CLIENT_ID.into());
        env
    }

    /// Runs `haven <args>` as an operator would, expecting success.
    pub fn operator(&self, args: &[&str]) {
        let (code, stdout, stderr) = run(args, &self.env());
        assert_eq!(code, Some(0), "haven {args:?}: {stdout} {stderr}");
    }

    /// `haven users disable|enable --tenant org-1 --subject SUBJECT`.
    pub fn users(&self, action: &str, subject: &str) {
        self.operator(&["users", action, "--tenant", "org-1", "--subject", subject]);
    }

    /// An admin token of tenant `org-1` for `subject`.
    pub async fn token(&self, subject: &str) -> String {
        self.idp
            .token(json!({"claims": {"sub": subject, "roles": ["admin"]}}))
            .await
    }

    /// `GET /api/v1/me` on replica `at`.
    pub async fn me(&self, at: usize, token: &str) -> Answer {
        let response = self
            .client
            .get(self.replicas[at].url("/api/v1/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("replica answers");
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            code: body["error"]["code"].as_str().map(str::to_owned),
        }
    }

    /// Polls replica `at` until its answer satisfies `done` or `deadline` passes.
    pub async fn eventually_on(
        &self,
        at: usize,
        deadline: Duration,
        token: &str,
        done: impl Fn(&Answer) -> bool,
    ) -> bool {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            if done(&self.me(at, token).await) {
                return true;
            }
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Asserts that every replica answers as `done` wants within `deadline` of now (each one
    /// polled from the same start, so the bound holds for all of them).
    pub async fn all_within(
        &self,
        deadline: Duration,
        token: &str,
        what: &str,
        done: impl Fn(&Answer) -> bool + Copy,
    ) {
        let started = tokio::time::Instant::now();
        let checks = (0..self.replicas.len()).map(|at| async move {
            let left = deadline.saturating_sub(started.elapsed());
            (at, self.eventually_on(at, left, token, done).await)
        });
        for (at, ok) in futures::future::join_all(checks).await {
            assert!(ok, "replica {at}: {what} not seen within {deadline:?}");
        }
    }

    /// The connections of this database's replicas that are listening (their last statement
    /// was the `LISTEN`), by backend pid.
    pub async fn listener_pids(&self) -> Vec<i32> {
        let mut conn = self.db.connect().await;
        sqlx::query_scalar(
            "select pid from pg_stat_activity where application_name = $1 \
             and datname = current_database() and state = 'idle' and query ilike 'listen %'",
        )
        .bind(haven_db::invalidation::LISTENER_APPLICATION_NAME)
        .fetch_all(&mut conn)
        .await
        .expect("pg_stat_activity")
    }

    /// Waits until `n` replicas listen.
    pub async fn wait_listeners(&self, n: usize) {
        let listening = haven_tests::eventually(Duration::from_secs(15), || async {
            self.listener_pids().await.len() == n
        })
        .await;
        assert!(listening, "{n} invalidation listeners connected");
    }

    /// Every line the replicas wrote to stdout.
    pub fn logs(&self) -> Vec<String> {
        self.replicas
            .iter()
            .flat_map(HavenProcess::stdout_lines)
            .collect()
    }
}

/// Runs `haven <args>` to completion: (exit code, stdout, stderr).
fn run(args: &[&str], env: &HashMap<String, String>) -> (Option<i32>, String, String) {
    let mut process = HavenProcess::spawn(args, env);
    let status = process
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("haven {args:?} did not exit"));
    (
        status.code(),
        process.stdout_lines().join("\n"),
        process.stderr_lines().join("\n"),
    )
}
