//! `haven db create-runtime-login`: a non-superuser login for the service, which cannot step
//! out of row-level security by resetting its role, and which the service runs with.

use std::collections::HashMap;
use std::time::Duration;

use haven_tests::{HavenProcess, TestDatabase};
use sqlx::{Connection, PgConnection};

fn haven(args: &[&str], database_url: &str) -> (Option<i32>, String, String) {
    let env: HashMap<String, String> = haven_tests::app::base_env(database_url);
    let mut process = HavenProcess::spawn(args, &env);
    let status = process.wait_exit(Duration::from_secs(30)).expect("exits");
    (
        status.code(),
        process.stdout_lines().join("\n"),
        process.stderr_lines().join("\n"),
    )
}

fn production(database_url: &str) -> HashMap<String, String> {
    let mut env = haven_tests::app::base_env(database_url);
    env.insert("ENVIRONMENT".into(), "production".into());
    env.remove("ENABLE_TEST_ROUTES");
    env.insert("RUN_MIGRATIONS_ON_START".into(), "false".into());
    // Production needs an https issuer; nothing listens there (discovery retries quietly).
    env.insert("OIDC_ISSUER_URL".into(), "https://127.0.0.1:9/".into());
    env.insert("OIDC_CLIENT_ID".into(), "haven".into());
    env
}

/// Inside a tenant transaction, `reset role` and count the tenants this login then sees.
async fn tenants_seen_after_reset_role(url: &str, tenant: uuid::Uuid) -> i64 {
    let mut conn = PgConnection::connect(url).await.expect("connect");
    let mut tx =
        haven_db::tenant::TenantTx::begin_on(&mut conn, haven_db::ids::TenantId::from_uuid(tenant))
            .await
            .unwrap();
    sqlx::query("reset role").execute(&mut *tx).await.unwrap();
    sqlx::query_scalar("select count(*) from tenants")
        .fetch_one(&mut *tx)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_runtime_login_cannot_leave_row_level_security_and_runs_the_service() {
    let db = TestDatabase::create().await;
    let (code, _, stderr) = haven(&["migrate", "up"], &db.url);
    assert_eq!(code, Some(0), "{stderr}");
    for tenant in ["org-a", "org-b"] {
        let (code, _, stderr) = haven(
            &[
                "tenants",
                "create",
                "--external-id",
                tenant,
                "--name",
                tenant,
            ],
            &db.url,
        );
        assert_eq!(code, Some(0), "{stderr}");
    }
    let role = format!("rt_{}", &db.name[db.name.len() - 8..]);
    let (code, stdout, stderr) = haven(&["db", "create-runtime-login", "--role", &role], &db.url);
    assert_eq!(code, Some(0), "{stderr}");
    let password = stdout
        .lines()
        .find_map(|l| l.strip_prefix("password\t"))
        .expect("the password is printed once")
        .to_owned();
    assert!(password.len() >= 40);
    let mut runtime_url = url::Url::parse(&db.url).unwrap();
    runtime_url.set_username(&role).unwrap();
    runtime_url.set_password(Some(&password)).unwrap();
    let runtime_url = runtime_url.to_string();

    let mut owner = db.connect().await;
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("select rolsuper, rolbypassrls from pg_roles where rolname = $1")
            .bind(&role)
            .fetch_one(&mut owner)
            .await
            .unwrap();
    assert_eq!((superuser, bypass), (false, false));
    let tenant: uuid::Uuid =
        sqlx::query_scalar("select id from tenants where external_id = 'org-a'")
            .fetch_one(&mut owner)
            .await
            .unwrap();
    // The red-team finding: a superuser that resets its role sees every tenant ...
    assert_eq!(tenants_seen_after_reset_role(&db.url, tenant).await, 2);
    // ... the runtime login still sees only the transaction's tenant.
    assert_eq!(tenants_seen_after_reset_role(&runtime_url, tenant).await, 1);

    // The service runs with it in production (migrations stay with the owner), without the
    // warning a superuser pool gets.
    let superuser = HavenProcess::spawn(&["serve"], &production(&db.url));
    assert!(superuser.wait_ready(Duration::from_secs(30)).await, "ready");
    let service = HavenProcess::spawn(&["serve"], &production(&runtime_url));
    assert!(service.wait_ready(Duration::from_secs(30)).await, "ready");
    let warned = |p: &HavenProcess| {
        p.stdout_lines()
            .iter()
            .any(|l| l.contains("connects as a superuser"))
    };
    let superuser_warned =
        haven_tests::eventually(Duration::from_secs(5), || async { warned(&superuser) }).await;
    assert!(superuser_warned, "a superuser pool is warned about");
    assert!(!warned(&service), "the runtime login is not");
    let (code, stdout, _) = haven(&["tenants", "list"], &runtime_url);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("org-a") && stdout.contains("org-b"),
        "{stdout}"
    );
    // Running it again resets the password of the same role.
    let (code, _, stderr) = haven(&["db", "create-runtime-login", "--role", &role], &db.url);
    assert_eq!(code, Some(0), "{stderr}");
    // Roles are cluster-wide: the test leaves none behind.
    drop((service, superuser));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "drop owned by {role}; drop role {role}"
    )))
    .execute(&mut owner)
    .await
    .unwrap();
}
