//! The operator commands through the real binary, and the development tenant made at start.

use std::collections::HashMap;
use std::time::Duration;

use haven_tests::{HavenProcess, TestDatabase, spawn_app_with};

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn haven(args: &[&str], database_url: &str) -> Run {
    let env: HashMap<String, String> = [
        ("DATABASE_URL", database_url),
        ("ENVIRONMENT", "development"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut process = HavenProcess::spawn(args, &env);
    let status = process
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("haven {args:?} did not exit"));
    Run {
        code: status.code(),
        stdout: process.stdout_lines().join("\n"),
        stderr: process.stderr_lines().join("\n"),
    }
}

#[tokio::test]
async fn tenants_are_created_listed_suspended_and_activated_through_the_binary() {
    let db = TestDatabase::create().await;
    let url = db.url.as_str();
    let run = haven(&["migrate", "up"], url);
    assert_eq!(run.code, Some(0), "{}", run.stderr);

    let created = haven(
        &[
            "tenants",
            "create",
            "--external-id",
            "org-456",
            "--name",
            "Acme Clinic",
        ],
        url,
    );
    assert_eq!(created.code, Some(0), "{}", created.stderr);
    assert!(created.stdout.contains("org-456") && created.stdout.contains("active"));
    let again = haven(
        &[
            "tenants",
            "create",
            "--external-id",
            "org-456",
            "--name",
            "Twice",
        ],
        url,
    );
    assert_eq!(again.code, Some(1));
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    let bad = haven(
        &[
            "tenants",
            "create",
            "--external-id",
            "org 456; drop",
            "--name",
            "X",
        ],
        url,
    );
    assert_eq!(
        bad.code,
        Some(2),
        "an external id no token could carry is refused"
    );
    haven(
        &[
            "tenants",
            "create",
            "--external-id",
            "org-789",
            "--name",
            "Beta",
        ],
        url,
    );

    let list = haven(&["tenants", "list"], url);
    assert_eq!(list.code, Some(0));
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "header and two tenants: {}", list.stdout);
    assert!(
        lines[1].contains("org-456\tactive\tAcme Clinic"),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains("org-789"));

    let suspended = haven(&["tenants", "suspend", "org-456"], url);
    assert_eq!(suspended.code, Some(0), "{}", suspended.stderr);
    assert!(suspended.stdout.contains("suspended"));
    let mut conn = db.connect().await;
    let status: String =
        sqlx::query_scalar("select status from tenants where external_id = 'org-456'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(status, "suspended");
    let activated = haven(&["tenants", "activate", "org-456"], url);
    assert_eq!(activated.code, Some(0));
    assert!(activated.stdout.contains("active"));
    let missing = haven(&["tenants", "suspend", "org-nobody"], url);
    assert_eq!(missing.code, Some(1));
    assert!(missing.stderr.contains("no tenant"), "{}", missing.stderr);

    let verify = haven(&["audit", "verify"], url);
    assert_eq!(verify.code, Some(0), "{} {}", verify.stdout, verify.stderr);
    assert!(verify.stdout.contains("intact"), "{}", verify.stdout);
    let unknown = haven(&["audit", "verify", "--tenant", "org-nobody"], url);
    assert_eq!(unknown.code, Some(2));
}

#[tokio::test]
async fn the_development_tenant_is_created_at_start_and_refused_outside_development() {
    let app = spawn_app_with(|env| {
        env.insert("DEV_TENANT_EXTERNAL_ID".into(), "org-dev".into());
    })
    .await;
    let mut conn = app.db.connect().await;
    let (name, status): (String, String) =
        sqlx::query_as("select name, status from tenants where external_id = 'org-dev'")
            .fetch_one(&mut conn)
            .await
            .expect("the development tenant exists");
    assert_eq!(
        (name.as_str(), status.as_str()),
        ("Development tenant", "active")
    );
    app.stop().await;

    let mut vars = haven_tests::app::base_env("postgres://u@127.0.0.1/db");
    vars.insert("DEV_TENANT_EXTERNAL_ID".into(), "org-dev".into());
    for environment in ["production", "staging"] {
        vars.insert("ENVIRONMENT".into(), environment.into());
        vars.insert("OIDC_ISSUER_URL".into(), "https://idp.example.com".into());
        vars.insert("OIDC_CLIENT_ID".into(), "haven".into());
        vars.insert("ALLOWED_ORIGINS".into(), "https://app.example.com".into());
        vars.remove("ENABLE_TEST_ROUTES");
        let error = haven_api::Config::from_map(&vars)
            .expect_err(environment)
            .to_string();
        assert!(
            error.contains("DEV_TENANT_EXTERNAL_ID"),
            "{environment}: {error}"
        );
    }
}

#[tokio::test]
async fn operator_commands_need_only_the_database_url_even_in_production() {
    let db = TestDatabase::create().await;
    let only_database: HashMap<String, String> = [
        ("DATABASE_URL", db.url.as_str()),
        // Ignored by the operator commands: serve would demand the identity provider here.
        ("ENVIRONMENT", "production"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for args in [&["migrate", "up"][..], &["tenants", "list"][..]] {
        let mut process = HavenProcess::spawn(args, &only_database);
        let status = process
            .wait_exit(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("haven {args:?} did not exit"));
        assert_eq!(
            status.code(),
            Some(0),
            "{args:?}: {:?}",
            process.stderr_lines()
        );
    }
    let mut serve = HavenProcess::spawn(&["config", "check"], &only_database);
    let status = serve.wait_exit(Duration::from_secs(5)).expect("exits");
    assert_eq!(
        status.code(),
        Some(78),
        "serve's configuration still needs OIDC"
    );
}
