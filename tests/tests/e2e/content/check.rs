//! `haven storage check` through the binary: a bare bucket fails the checks with a fix for
//! each; the bucket set up as DEPLOYMENT.md describes passes.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_s3::types::{
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use haven_tests::{HavenProcess, ObjectStore};

const ORIGIN: &str = "http://127.0.0.1:3000";

fn check(store: &ObjectStore) -> (i32, String) {
    let mut env: HashMap<String, String> = store.env().into_iter().collect();
    env.insert(
        "DATABASE_URL".into(),
        "postgres://unused@127.0.0.1:1/unused".into(),
    );
    env.insert("ENVIRONMENT".into(), "development".into());
    env.insert("ALLOWED_ORIGINS".into(), ORIGIN.into());
    let mut process = HavenProcess::spawn(&["storage", "check"], &env);
    let status = process
        .wait_exit(Duration::from_secs(60))
        .expect("the check exits");
    (
        status.code().unwrap_or(-1),
        process.stdout_lines().join("\n"),
    )
}

#[tokio::test]
async fn the_storage_check_names_what_to_fix_and_passes_a_bucket_set_up_as_documented() {
    let store = ObjectStore::start().await;
    let (code, out) = check(&store);
    assert_eq!(code, 1, "{out}");
    for line in [
        "ok   bucket:",
        "FAIL default encryption:",
        "FAIL public access block:",
        "FAIL cors:",
    ] {
        assert!(out.contains(line), "{line} in:\n{out}");
    }
    assert!(out.contains("fix: "), "{out}");

    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::AwsKms)
        .kms_master_key_id(&store.key_arn)
        .build()
        .unwrap();
    let encryption = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(by_default)
                .build(),
        )
        .build()
        .unwrap();
    store
        .s3
        .put_bucket_encryption()
        .bucket(&store.bucket)
        .server_side_encryption_configuration(encryption)
        .send()
        .await
        .unwrap();
    let block = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build();
    store
        .s3
        .put_public_access_block()
        .bucket(&store.bucket)
        .public_access_block_configuration(block)
        .send()
        .await
        .unwrap();
    store.allow_origin(ORIGIN).await;
    let (code, out) = check(&store);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("FAIL"), "{out}");
    assert!(
        out.contains(&format!("ok   cors: {ORIGIN}: PUT and GET")),
        "{out}"
    );
}
