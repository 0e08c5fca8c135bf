//! S3 and KMS for tests: moto's server (the one scripts/test started, HAVEN_TEST_MOTO_URL, or
//! one of its own), a fresh bucket and KMS key per test, and an S3 client to inspect objects.

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::config::Credentials;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};

use crate::Moto;

pub struct ObjectStore {
    /// Started here when no shared moto was given.
    _own: Option<Moto>,
    pub endpoint: String,
    pub bucket: String,
    /// The KMS key's id (what STORAGE_KMS_KEY_ID is set to) and its ARN.
    pub key_id: String,
    pub key_arn: String,
    pub s3: aws_sdk_s3::Client,
}

impl ObjectStore {
    /// A fresh bucket and KMS key on moto.
    pub async fn start() -> Self {
        let (own, endpoint) = match std::env::var("HAVEN_TEST_MOTO_URL") {
            Ok(url) if !url.is_empty() => (None, url),
            _ => {
                let moto = Moto::start().await;
                let endpoint = moto.endpoint();
                (Some(moto), endpoint)
            }
        };
        let config = aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .region(Region::new("us-east-1"))
            .load()
            .await;
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        );
        let bucket = format!("haven-test-{}", uuid::Uuid::new_v4().simple());
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("create the bucket");
        let (key_id, key_arn) = create_kms_key(&endpoint).await;
        Self {
            _own: own,
            endpoint,
            bucket,
            key_id,
            key_arn,
            s3,
        }
    }

    /// The variables that point the service at this bucket and key, as in production.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL_S3", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
            ("STORAGE_BUCKET", self.bucket.as_str()),
            ("STORAGE_KMS_KEY_ID", self.key_id.as_str()),
            ("STORAGE_FORCE_PATH_STYLE", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    pub async fn head(&self, key: &str) -> Option<HeadObjectOutput> {
        self.s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .ok()
    }

    /// Every key in the bucket.
    pub async fn keys(&self) -> Vec<String> {
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .send()
            .await
            .expect("list objects");
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }

    /// Stores `body` under `key` directly (as a misbehaving client could), unencrypted unless
    /// `kms_key` is given.
    pub async fn put(&self, key: &str, body: &[u8], content_type: &str, kms_key: Option<&str>) {
        let mut put = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(body.to_vec().into());
        if let Some(kms_key) = kms_key {
            put = put
                .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
                .ssekms_key_id(kms_key);
        }
        put.send().await.expect("put the object");
    }

    /// A bucket CORS rule letting `origin` PUT and GET, as DEPLOYMENT.md describes.
    pub async fn allow_origin(&self, origin: &str) {
        let rule = CorsRule::builder()
            .allowed_origins(origin)
            .allowed_methods("PUT")
            .allowed_methods("GET")
            .allowed_headers("*")
            .expose_headers("ETag")
            .max_age_seconds(600)
            .build()
            .expect("rule");
        self.s3
            .put_bucket_cors()
            .bucket(&self.bucket)
            .cors_configuration(
                CorsConfiguration::builder()
                    .cors_rules(rule)
                    .build()
                    .expect("cors"),
            )
            .send()
            .await
            .expect("put the CORS rule");
    }
}

/// `CreateKey` through KMS's JSON protocol (moto checks no signature).
async fn create_kms_key(endpoint: &str) -> (String, String) {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .header("x-amz-target", "TrentService.CreateKey")
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kms/aws4_request, \
             SignedHeaders=host, Signature=00",
        )
        .body("{}")
        .send()
        .await
        .expect("KMS reachable")
        .json()
        .await
        .expect("CreateKey answer");
    let meta = &answer["KeyMetadata"];
    (
        meta["KeyId"].as_str().expect("KeyId").to_owned(),
        meta["Arn"].as_str().expect("Arn").to_owned(),
    )
}
