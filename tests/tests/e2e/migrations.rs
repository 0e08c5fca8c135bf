//! Migrations: applied once on a fresh database, exactly once when replicas race.

use std::time::{Duration, Instant};

use haven_tests::{HavenProcess, SilentEndpoint, TestDatabase, app::base_env};

fn migration_files() -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .map(|e| e.file_name().to_string_lossy().ends_with(".sql"))
                .unwrap_or(false)
        })
        .count()
}

async fn history(db: &TestDatabase) -> Vec<(i32, i64)> {
    let mut conn = db.connect().await;
    sqlx::query_as(
        "select version, count(*) from refinery_schema_history group by version order by version",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_fresh_database_gets_every_migration_once_and_status_shows_none_pending() {
    let db = TestDatabase::create().await;
    let env = base_env(&db.url);
    let mut status = HavenProcess::spawn(&["migrate", "status"], &env);
    assert!(status.wait_exit(Duration::from_secs(10)).unwrap().success());
    let before = status.stdout_lines().join("\n");
    assert!(
        before.contains(&format!("0 applied, {} pending", migration_files())),
        "{before}"
    );

    let mut up = HavenProcess::spawn(&["migrate", "up"], &env);
    assert!(
        up.wait_exit(Duration::from_secs(20)).unwrap().success(),
        "{:?}",
        up.stderr_lines()
    );
    let applied = history(&db).await;
    assert_eq!(applied.len(), migration_files());
    assert!(applied.iter().all(|(_, n)| *n == 1));

    let mut again = HavenProcess::spawn(&["migrate", "up"], &env);
    assert!(again.wait_exit(Duration::from_secs(20)).unwrap().success());
    assert!(
        again
            .stdout_lines()
            .join("\n")
            .contains("0 migration(s) applied")
    );
    let mut status = HavenProcess::spawn(&["migrate", "status"], &env);
    assert!(status.wait_exit(Duration::from_secs(10)).unwrap().success());
    let after = status.stdout_lines().join("\n");
    assert!(
        after.contains(&format!("{} applied, 0 pending", migration_files())),
        "{after}"
    );
}

#[tokio::test]
async fn migrate_against_a_database_that_never_answers_fails_within_the_connect_budget() {
    let silent = SilentEndpoint::start();
    let url = format!("postgres://haven@127.0.0.1:{}/haven", silent.port());
    let mut env = base_env(&url);
    env.insert("DB_ACQUIRE_TIMEOUT_SECONDS".into(), "1".into());
    for action in ["up", "status"] {
        let started = Instant::now();
        let mut migrate = HavenProcess::spawn(&["migrate", action], &env);
        let status = migrate
            .wait_exit(Duration::from_secs(15))
            .unwrap_or_else(|| panic!("`haven migrate {action}` hung on a silent database"));
        let took = started.elapsed();
        assert!(!status.success(), "{action}");
        assert!(took < Duration::from_secs(5), "{action} took {took:?}");
        let stderr = migrate.stderr_lines().join("\n");
        assert!(
            stderr.contains("cannot connect to the database to migrate: no answer within 1 s"),
            "{action}: {stderr}"
        );
    }
    assert!(
        silent.connections() >= 2,
        "both commands reached the endpoint and waited on it"
    );
}

#[tokio::test]
async fn three_replicas_started_together_apply_each_migration_exactly_once_and_all_get_ready() {
    let db = TestDatabase::create().await;
    let mut env = base_env(&db.url);
    env.insert("LOG_LEVEL".into(), "info".into());
    let replicas: Vec<HavenProcess> = (0..3)
        .map(|_| HavenProcess::spawn(&["serve"], &env))
        .collect();
    for replica in &replicas {
        assert!(
            replica.wait_ready(Duration::from_secs(30)).await,
            "replica on {} ready: {:?}",
            replica.port,
            replica.stdout_lines()
        );
    }
    let applied = history(&db).await;
    assert_eq!(applied.len(), migration_files());
    assert!(applied.iter().all(|(_, n)| *n == 1), "{applied:?}");
    let applied_lines: usize = replicas
        .iter()
        .map(|r| {
            r.stdout_lines()
                .iter()
                .filter(|l| l.contains("migration applied"))
                .count()
        })
        .sum();
    assert_eq!(
        applied_lines,
        migration_files(),
        "only one replica applied them"
    );
}

#[tokio::test]
async fn the_runtime_role_exists_and_cannot_bypass_row_level_security() {
    let db = TestDatabase::create().await;
    let mut up = HavenProcess::spawn(&["migrate", "up"], &base_env(&db.url));
    assert!(up.wait_exit(Duration::from_secs(20)).unwrap().success());
    let mut conn = db.connect().await;
    let (login, superuser, bypass): (bool, bool, bool) = sqlx::query_as(
        "select rolcanlogin, rolsuper, rolbypassrls from pg_roles where rolname = 'haven_app'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(!login && !superuser && !bypass);
}

#[tokio::test]
async fn a_binary_older_than_the_schema_starts_without_migrating_but_a_changed_migration_still_stops_it()
 {
    let db = TestDatabase::create().await;
    let mut env = base_env(&db.url);
    env.insert("LOG_LEVEL".into(), "info".into());
    let mut up = HavenProcess::spawn(&["migrate", "up"], &env);
    assert!(up.wait_exit(Duration::from_secs(20)).unwrap().success());
    let mut conn = db.connect().await;
    // A newer release applied a migration this binary does not know (then was rolled back).
    sqlx::query(
        "insert into refinery_schema_history (version, name, applied_on, checksum) \
         values (9999, 'from_a_newer_release', '2026-11-22T00:00:00Z', '1')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let service = HavenProcess::spawn(&["serve"], &env);
    assert!(
        service.wait_ready(Duration::from_secs(20)).await,
        "{:?}",
        service.stdout_lines()
    );
    assert!(
        service
            .stdout_lines()
            .iter()
            .any(|l| l.contains("schema is ahead of this binary"))
    );
    drop(service);

    // An applied migration whose text changed is still refused.
    sqlx::query("update refinery_schema_history set checksum = '12345' where version = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut refused = HavenProcess::spawn(&["migrate", "up"], &env);
    assert!(
        !refused
            .wait_exit(Duration::from_secs(20))
            .unwrap()
            .success()
    );
}
