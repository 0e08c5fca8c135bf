//! STORAGE_*: the document content bucket, its KMS key, upload limits and URL lifetimes.

use std::time::Duration;

use haven_storage::{
    DEFAULT_DOWNLOAD_URL_TTL, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_UPLOAD_URL_TTL, MAX_URL_TTL,
    StaticCredentials, StorageSettings,
};

use super::env::Env;

/// S3's limit for one PUT: 5 GiB.
const MAX_SINGLE_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// `None` without STORAGE_BUCKET: the content endpoints then answer 503 STORAGE_001. Every bad
/// variable is recorded in `env`.
pub(super) fn storage(env: &Env<'_>, production: bool) -> Option<StorageSettings> {
    let bucket = env.text("STORAGE_BUCKET")?;
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !valid_bucket {
        env.invalid(
            "STORAGE_BUCKET",
            "must be a bucket name: 3 to 63 lowercase letters, digits, . and -",
        );
    }
    let kms_key_id = env.text("STORAGE_KMS_KEY_ID");
    match &kms_key_id {
        None if production => env.invalid(
            "STORAGE_KMS_KEY_ID",
            "is required in production when STORAGE_BUCKET is set",
        ),
        Some(key) if key.starts_with("alias/") || key.contains(":alias/") => env.invalid(
            "STORAGE_KMS_KEY_ID",
            "must be a key id or key ARN, not an alias (S3 reports the key ARN, which is \
             what completion compares)",
        ),
        _ => {}
    }
    let mut settings = StorageSettings::new(bucket);
    settings.kms_key_id = kms_key_id;
    // The SDK's own variables, read here with the rest of the configuration (the SDK's chain
    // covers whatever is not set: profiles, web identity, ECS and EC2 roles).
    settings.region = env
        .text("AWS_REGION")
        .or_else(|| env.text("AWS_DEFAULT_REGION"));
    if let Some((name, url)) = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .into_iter()
        .find_map(|name| env.text(name).map(|url| (name, url)))
    {
        env.http_url(name, &url, production);
        settings.endpoint_url = Some(url);
    }
    if let (Some(access_key_id), Some(secret_access_key)) = (
        env.text("AWS_ACCESS_KEY_ID"),
        env.secret("AWS_SECRET_ACCESS_KEY"),
    ) {
        settings.credentials = Some(StaticCredentials {
            access_key_id,
            secret_access_key,
            session_token: env.secret("AWS_SESSION_TOKEN"),
        });
    }
    settings.force_path_style = env.flag("STORAGE_FORCE_PATH_STYLE", false);
    settings.max_upload_bytes = env.bounded(
        "STORAGE_MAX_UPLOAD_BYTES",
        DEFAULT_MAX_UPLOAD_BYTES,
        1,
        MAX_SINGLE_PUT_BYTES,
    );
    // Unset: DEFAULT_ALLOWED_CONTENT_TYPES.
    if let Some(list) = env.text("STORAGE_ALLOWED_CONTENT_TYPES")
        && let Some(types) = content_types(env, &list)
    {
        settings.allowed_content_types = types;
    }
    let max = MAX_URL_TTL.as_secs();
    settings.upload_url_ttl = Duration::from_secs(env.bounded(
        "STORAGE_UPLOAD_URL_TTL_SECONDS",
        DEFAULT_UPLOAD_URL_TTL.as_secs(),
        60,
        max,
    ));
    settings.download_url_ttl = Duration::from_secs(env.bounded(
        "STORAGE_DOWNLOAD_URL_TTL_SECONDS",
        DEFAULT_DOWNLOAD_URL_TTL.as_secs(),
        10,
        max,
    ));
    settings.attempt_timeout =
        Duration::from_secs(env.bounded("STORAGE_TIMEOUT_SECONDS", 5, 1, 60));
    Some(settings)
}

/// A comma-separated list of `type/subtype`, stored lowercase; `None` (recorded) when bad.
fn content_types(env: &Env<'_>, list: &str) -> Option<Vec<String>> {
    const NAME: &str = "STORAGE_ALLOWED_CONTENT_TYPES";
    let mut types = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let valid = item.split_once('/').is_some_and(|(kind, sub)| {
            !kind.is_empty()
                && !sub.is_empty()
                && item
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/+-.".contains(&b))
        });
        if !valid {
            env.invalid(
                NAME,
                format!("has an entry that is not type/subtype: {item}"),
            );
            return None;
        }
        types.push(item.to_ascii_lowercase());
    }
    if types.is_empty() {
        env.invalid(NAME, "must list at least one type");
        return None;
    }
    Some(types)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::config::Config;

    fn config(extra: &[(&str, &str)]) -> Result<Config, crate::config::ConfigErrors> {
        let mut vars: HashMap<String, String> = [
            ("DATABASE_URL", "postgres://u:p@localhost/db"),
            ("ENVIRONMENT", "production"),
            ("OIDC_ISSUER_URL", "https://idp.example.com"),
            ("OIDC_CLIENT_ID", "haven"),
            ("STORAGE_BUCKET", "haven-docs"),
            ("STORAGE_KMS_KEY_ID", "1234abcd-12ab-34cd-56ef-1234567890ab"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        Config::from_map(&vars)
    }

    fn refused(extra: &[(&str, &str)]) -> String {
        config(extra).expect_err("refused").variables().join(",")
    }

    #[test]
    fn storage_settings_are_read_with_their_defaults() {
        let storage = config(&[]).unwrap().storage.unwrap();
        assert_eq!(storage.bucket, "haven-docs");
        assert_eq!(storage.max_upload_bytes, 100 * 1024 * 1024);
        assert_eq!(storage.upload_url_ttl.as_secs(), 900);
        assert_eq!(storage.download_url_ttl.as_secs(), 300);
        assert!(storage.allows_content_type("application/pdf"));
        let custom = config(&[("STORAGE_ALLOWED_CONTENT_TYPES", "Image/PNG, text/plain")])
            .unwrap()
            .storage
            .unwrap();
        assert_eq!(custom.allowed_content_types, ["image/png", "text/plain"]);
    }

    #[test]
    fn bad_storage_settings_stop_the_start_naming_the_variable() {
        assert_eq!(refused(&[("STORAGE_KMS_KEY_ID", "")]), "STORAGE_KMS_KEY_ID");
        assert_eq!(
            refused(&[("STORAGE_KMS_KEY_ID", "alias/haven")]),
            "STORAGE_KMS_KEY_ID"
        );
        assert_eq!(
            refused(&[("STORAGE_BUCKET", "Bad_Bucket")]),
            "STORAGE_BUCKET"
        );
        assert_eq!(
            refused(&[("STORAGE_UPLOAD_URL_TTL_SECONDS", "86400")]),
            "STORAGE_UPLOAD_URL_TTL_SECONDS"
        );
        assert_eq!(
            refused(&[("STORAGE_ALLOWED_CONTENT_TYPES", "pdf")]),
            "STORAGE_ALLOWED_CONTENT_TYPES"
        );
        assert_eq!(
            refused(&[("AWS_ENDPOINT_URL_S3", "http://minio:9000")]),
            "AWS_ENDPOINT_URL_S3"
        );
        assert!(config(&[("STORAGE_BUCKET", "")]).unwrap().storage.is_none());
    }

    #[test]
    fn several_bad_storage_settings_are_all_reported_in_one_run_one_line_each() {
        let error = config(&[
            ("STORAGE_BUCKET", "Bad_Bucket"),
            ("STORAGE_KMS_KEY_ID", "alias/haven"),
            ("STORAGE_MAX_UPLOAD_BYTES", "0"),
            ("STORAGE_ALLOWED_CONTENT_TYPES", "pdf"),
            ("STORAGE_UPLOAD_URL_TTL_SECONDS", "86400"),
            ("STORAGE_DOWNLOAD_URL_TTL_SECONDS", "soon"),
        ])
        .expect_err("refused");
        let mut variables = error.variables();
        variables.sort_unstable();
        assert_eq!(
            variables,
            [
                "STORAGE_ALLOWED_CONTENT_TYPES",
                "STORAGE_BUCKET",
                "STORAGE_DOWNLOAD_URL_TTL_SECONDS",
                "STORAGE_KMS_KEY_ID",
                "STORAGE_MAX_UPLOAD_BYTES",
                "STORAGE_UPLOAD_URL_TTL_SECONDS",
            ]
        );
        let text = error.to_string();
        assert_eq!(text.lines().count(), 6, "{text}");
        for line in text.lines() {
            assert_eq!(
                line.matches("STORAGE_").count(),
                1,
                "one variable a line: {line}"
            );
        }
    }
}
