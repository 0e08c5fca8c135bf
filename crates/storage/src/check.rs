//! `haven storage check`: is the bucket reachable, private, encrypted with our key, and open to
//! browser uploads from our origins? Each finding says what to fix.

use crate::client::Storage;
use crate::error::StorageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Ok,
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Info => "info",
            Severity::Warning => "WARN",
            Severity::Error => "FAIL",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub check: &'static str,
    pub severity: Severity,
    pub message: String,
    /// What an operator should change; `None` when nothing is to be done.
    pub fix: Option<String>,
}

fn finding(check: &'static str, severity: Severity, message: impl Into<String>) -> Finding {
    Finding {
        check,
        severity,
        message: message.into(),
        fix: None,
    }
}

impl Finding {
    fn fix(mut self, fix: impl Into<String>) -> Finding {
        self.fix = Some(fix.into());
        self
    }
}

/// An S3 error code from a service error (`NoSuchCORSConfiguration`, ...), else the text.
fn error_code<E: aws_sdk_s3::error::ProvideErrorMetadata>(error: &E) -> String {
    error.code().unwrap_or("unknown").to_owned()
}

impl Storage {
    /// Runs every check; an unreachable bucket stops after the first.
    pub async fn check(&self, allowed_origins: &[String]) -> Vec<Finding> {
        let bucket = &self.settings.bucket;
        if let Err(error) = self.probe().await {
            let fix = match &error {
                StorageError::Denied(_) => {
                    "grant s3:ListBucket on the bucket to this role (HeadBucket), see DEPLOYMENT.md"
                }
                _ => "check STORAGE_BUCKET, AWS_REGION and AWS_ENDPOINT_URL_S3",
            };
            return vec![finding("bucket", Severity::Error, format!("{bucket}: {error}")).fix(fix)];
        }
        let mut findings = vec![finding(
            "bucket",
            Severity::Ok,
            format!("{bucket} is reachable"),
        )];
        findings.push(self.check_encryption().await);
        findings.push(self.check_public_access().await);
        findings.push(self.check_versioning().await);
        findings.extend(self.check_cors(allowed_origins).await);
        findings
    }

    async fn check_encryption(&self) -> Finding {
        const CHECK: &str = "default encryption";
        let answer = self
            .s3
            .get_bucket_encryption()
            .bucket(&self.settings.bucket)
            .send()
            .await;
        let rule = match answer {
            Ok(out) => out
                .server_side_encryption_configuration()
                .and_then(|c| c.rules().first().cloned())
                .and_then(|r| r.apply_server_side_encryption_by_default().cloned()),
            Err(error) => {
                let code = error.as_service_error().map(error_code).unwrap_or_default();
                return finding(CHECK, Severity::Error, format!("cannot read it ({code})")).fix(
                    "set default encryption to SSE-KMS with STORAGE_KMS_KEY_ID \
                     (aws s3api put-bucket-encryption)",
                );
            }
        };
        let Some(rule) = rule else {
            return finding(CHECK, Severity::Error, "none configured")
                .fix("set default encryption to SSE-KMS with STORAGE_KMS_KEY_ID");
        };
        let algorithm = rule.sse_algorithm().as_str().to_owned();
        let key = rule.kms_master_key_id().unwrap_or_default();
        match &self.settings.kms_key_id {
            Some(expected) if algorithm == "aws:kms" && crate::verify::same_key(expected, key) => {
                finding(CHECK, Severity::Ok, format!("SSE-KMS with {key}"))
            }
            Some(expected) => finding(
                CHECK,
                Severity::Error,
                format!("{algorithm} with key {key:?}, not {expected}"),
            )
            .fix("set the bucket's default encryption to SSE-KMS with STORAGE_KMS_KEY_ID"),
            None => finding(
                CHECK,
                Severity::Warning,
                format!("{algorithm}; STORAGE_KMS_KEY_ID is not set (development only)"),
            )
            .fix("set STORAGE_KMS_KEY_ID (required in production)"),
        }
    }

    async fn check_public_access(&self) -> Finding {
        const CHECK: &str = "public access block";
        let answer = self
            .s3
            .get_public_access_block()
            .bucket(&self.settings.bucket)
            .send()
            .await;
        let blocked = answer.as_ref().ok().and_then(|out| {
            let c = out.public_access_block_configuration()?;
            Some(
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true),
            )
        });
        match blocked {
            Some(true) => finding(CHECK, Severity::Ok, "all four settings on"),
            _ => finding(CHECK, Severity::Error, "public access is not fully blocked").fix(
                "aws s3api put-public-access-block with all four settings true (DEPLOYMENT.md)",
            ),
        }
    }

    async fn check_versioning(&self) -> Finding {
        const CHECK: &str = "versioning";
        match self
            .s3
            .get_bucket_versioning()
            .bucket(&self.settings.bucket)
            .send()
            .await
        {
            Ok(out) => match out.status().map(|s| s.as_str().to_owned()) {
                Some(status) if status == "Enabled" => finding(
                    CHECK,
                    Severity::Info,
                    "enabled: a purge leaves noncurrent versions until a lifecycle rule expires them",
                )
                .fix("add a lifecycle rule expiring noncurrent versions (DEPLOYMENT.md)"),
                Some(status) => finding(CHECK, Severity::Info, status.to_lowercase()),
                None => finding(CHECK, Severity::Info, "never enabled"),
            },
            Err(error) => {
                let code = error.as_service_error().map(error_code).unwrap_or_default();
                finding(CHECK, Severity::Warning, format!("cannot read it ({code})"))
            }
        }
    }

    async fn check_cors(&self, origins: &[String]) -> Vec<Finding> {
        const CHECK: &str = "cors";
        let rules = match self
            .s3
            .get_bucket_cors()
            .bucket(&self.settings.bucket)
            .send()
            .await
        {
            Ok(out) => out.cors_rules().to_vec(),
            Err(error) => {
                let code = error.as_service_error().map(error_code).unwrap_or_default();
                if origins.is_empty() {
                    return vec![finding(CHECK, Severity::Info, format!("no rules ({code})"))];
                }
                return vec![
                    finding(CHECK, Severity::Error, format!("no rules ({code})")).fix(
                        "add a CORS rule allowing PUT and GET from ALLOWED_ORIGINS (DEPLOYMENT.md)",
                    ),
                ];
            }
        };
        let allows = |origin: &str, method: &str| {
            rules.iter().any(|rule| {
                rule.allowed_methods().iter().any(|m| m == method)
                    && rule
                        .allowed_origins()
                        .iter()
                        .any(|o| o == "*" || o == origin)
                    && (method != "PUT"
                        || rule.allowed_headers().iter().any(|h| h == "*")
                        || ["content-type", "x-amz-checksum-sha256"]
                            .iter()
                            .all(|needed| {
                                rule.allowed_headers()
                                    .iter()
                                    .any(|h| h.eq_ignore_ascii_case(needed) || h == "x-amz-*")
                            }))
            })
        };
        origins
            .iter()
            .filter(|origin| *origin != "*")
            .map(
                |origin| match (allows(origin, "PUT"), allows(origin, "GET")) {
                    (true, true) => finding(CHECK, Severity::Ok, format!("{origin}: PUT and GET")),
                    (put, _) => finding(
                        CHECK,
                        if put {
                            Severity::Warning
                        } else {
                            Severity::Error
                        },
                        format!(
                            "{origin}: {} not allowed",
                            if put { "GET" } else { "PUT (with its headers)" }
                        ),
                    )
                    .fix("allow PUT (headers content-type, x-amz-*) and GET from this origin"),
                },
            )
            .collect()
    }
}
