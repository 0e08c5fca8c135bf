//! A frontend's view of the contract: a TypeScript client generated from docs/openapi.json
//! (openapi-typescript + openapi-fetch, tests/client) is type-checked against it and then
//! reads and writes through the running service.

use std::path::PathBuf;
use std::process::{Command, Output};

use haven_tests::idp::{CLIENT_ID, Idp};
use haven_tests::spawn_app_with;
use serde_json::{Value, json};

fn client_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("client")
}

async fn run(program: &str, args: &[&str]) -> Output {
    let mut command = Command::new(program);
    command.args(args).current_dir(client_dir());
    let described = format!("{program} {}", args.join(" "));
    tokio::task::spawn_blocking(move || {
        command
            .output()
            .unwrap_or_else(|e| panic!("{described}: {e} (node and npm must be installed)"))
    })
    .await
    .unwrap()
}

fn assert_ok(step: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{step} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_client_generated_from_the_spec_reads_and_writes_through_the_running_service() {
    if !client_dir()
        .join("node_modules/openapi-typescript")
        .is_dir()
    {
        let install = run(
            "npm",
            &["ci", "--no-audit", "--no-fund", "--loglevel=error"],
        )
        .await;
        assert_ok("npm ci in tests/client", &install);
    }
    assert_ok(
        "generate",
        &run("npm", &["run", "--silent", "generate"]).await,
    );
    assert_ok(
        "type-check and build",
        &run("npm", &["run", "--silent", "build"]).await,
    );

    let idp = Idp::start();
    let issuer = idp.issuer.clone();
    let app = spawn_app_with(move |env| {
        env.insert("OIDC_ISSUER_URL".into(), issuer);
        env.insert("OIDC_CLIENT_ID".into(), CLIENT_ID.into());
        // Lets the OIDC warm-up send as a client address of its own.
        env.insert("TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
    })
    .await;
    let pool = sqlx::PgPool::connect(&app.db.url).await.unwrap();
    haven_db::tenants::admin_create(&pool, "org-1", "Org One")
        .await
        .unwrap();
    let token = idp
        .token(json!({"claims": {"sub": "frontend-user", "roles": ["editor"]}}))
        .await;
    let warmup = idp.token(json!({"claims": {"sub": "warmup"}})).await;
    crate::hardening::wait_for_token_checks(&app.client, &app.address, &warmup).await;

    let smoke = run("node", &["dist/smoke.js", &app.address, &token]).await;
    assert_ok("the generated client's calls", &smoke);
    let line = String::from_utf8_lossy(&smoke.stdout);
    let result: Value = serde_json::from_str(line.trim()).expect("one JSON line");
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["subject"], "frontend-user");
    // Titles are stored encrypted: count the rows (the smoke test's document and its patient's
    // document); the client read them back through the API above.
    let stored: i64 = sqlx::query_scalar("select count(*) from documents")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 2, "the writes reached the database");
    app.stop().await;
}
