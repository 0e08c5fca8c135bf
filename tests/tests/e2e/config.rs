//! A bad setting stops the real binary at start with one line naming the variable.

use std::collections::HashMap;
use std::time::Duration;

use haven_tests::HavenProcess;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_bad_setting_stops_start_up_with_one_line_naming_the_variable() {
    let cases = [
        (
            "JWT_MAX_LIFETIME_MINUTES",
            env(&[
                ("DATABASE_URL", "postgres://x@127.0.0.1/x"),
                ("JWT_MAX_LIFETIME_MINUTES", "forever"),
            ]),
        ),
        (
            "ALLOWED_ORIGINS",
            env(&[
                ("DATABASE_URL", "postgres://x@127.0.0.1/x"),
                ("ENVIRONMENT", "production"),
                ("OIDC_ISSUER_URL", "https://idp.example.com"),
                ("OIDC_CLIENT_ID", "c"),
                ("ALLOWED_ORIGINS", "*"),
            ]),
        ),
        ("DATABASE_URL", env(&[])),
    ];
    for (variable, vars) in cases {
        for args in [&["serve"][..], &["config", "check"][..]] {
            let mut process = HavenProcess::spawn(args, &vars);
            let status = process
                .wait_exit(Duration::from_secs(5))
                .expect("exits promptly");
            assert!(!status.success(), "{variable}: {args:?} must fail");
            let stderr = process.stderr_lines();
            assert_eq!(stderr.len(), 1, "one line: {stderr:?}");
            assert!(stderr[0].contains(variable), "{variable} named: {stderr:?}");
        }
    }
}

#[tokio::test]
async fn config_check_accepts_a_good_environment() {
    let mut process = HavenProcess::spawn(
        &["config", "check"],
        &env(&[("DATABASE_URL", "postgres://x@127.0.0.1/x")]),
    );
    assert!(process.wait_exit(Duration::from_secs(5)).unwrap().success());
    assert!(process.stdout_lines().join("").contains("configuration ok"));
}

#[tokio::test]
async fn a_production_environment_with_three_mistakes_prints_three_lines_and_exits_78() {
    let vars = env(&[
        ("DATABASE_URL", "postgres://x@127.0.0.1/x"),
        ("ENVIRONMENT", "production"),
        ("OIDC_ISSUER_URL", "https://idp.example.com"),
        ("OIDC_CLIENT_ID", "c"),
        ("ALLOWED_ORIGINS", "*"),
        ("JWT_LEEWAY_SECONDS", "900"),
        ("OIDC_AUDIENCE_PARAM", "header"),
    ]);
    for args in [&["serve"][..], &["config", "check"][..]] {
        let mut process = HavenProcess::spawn(args, &vars);
        let status = process
            .wait_exit(Duration::from_secs(5))
            .expect("exits promptly");
        assert_eq!(status.code(), Some(78), "{args:?}");
        let stderr = process.stderr_lines();
        assert_eq!(stderr.len(), 3, "one line per variable: {stderr:?}");
        for (line, variable) in stderr.iter().zip([
            "ALLOWED_ORIGINS",
            "JWT_LEEWAY_SECONDS",
            "OIDC_AUDIENCE_PARAM",
        ]) {
            assert!(line.contains(variable), "{variable}: {stderr:?}");
        }
    }
}
