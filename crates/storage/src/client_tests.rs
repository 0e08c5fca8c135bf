//! Unit tests of the S3 client as built and its presigned URLs.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use aws_sdk_s3::config::SharedCredentialsProvider;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::ServerSideEncryption;

/// A client as `Storage::new` builds one, with fixed keys: path-style against a local
/// endpoint (moto, MinIO), or AWS's own endpoint for the region.
fn storage(endpoint: Option<&str>, session_token: Option<&str>) -> Storage {
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG",
        session_token.map(str::to_owned),
        None,
        "test",
    );
    let mut sdk = SdkConfig::builder()
        .region(Region::new("eu-west-3"))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .behavior_version(BehaviorVersion::latest());
    if let Some(endpoint) = endpoint {
        sdk = sdk.endpoint_url(endpoint);
    }
    let mut settings = StorageSettings::new("haven-docs");
    settings.force_path_style = endpoint.is_some();
    settings.kms_key_id = Some("arn:aws:kms:eu-west-3:111122223333:key/k-1".to_owned());
    Storage::from_sdk_config(&sdk.build(), settings)
}

fn at(ttl: Duration, now: SystemTime) -> PresigningConfig {
    PresigningConfig::builder()
        .start_time(now)
        .expires_in(ttl)
        .build()
        .unwrap()
}

#[tokio::test]
async fn download_urls_are_the_sdk_presigners_byte_for_byte() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000);
    let key = object_key(Uuid::from_u128(7), Uuid::from_u128(9));
    let disposition = crate::attachment("Lab \"report\" é/../%2F;.pdf");
    for (endpoint, token) in [
        (Some("http://127.0.0.1:9000"), None),
        (None, None),
        (None, Some("session-token/+=")),
    ] {
        let storage = storage(endpoint, token);
        let ttl = storage.settings.download_url_ttl;
        let ours = storage
            .presign_download_at(&key, &disposition, "application/pdf", now)
            .await
            .unwrap();
        let sdk = storage
            .s3
            .get_object()
            .bucket(&storage.settings.bucket)
            .key(&key)
            .response_content_disposition(&disposition)
            .response_content_type("application/pdf")
            .presigned(at(ttl, now))
            .await
            .unwrap();
        assert_eq!(ours.url, sdk.uri(), "endpoint {endpoint:?}");
    }
}

/// The SDK's presigned PUT for `spec`: what `presign_upload` must equal.
async fn sdk_upload(storage: &Storage, spec: &UploadSpec<'_>, now: SystemTime) -> PresignedUpload {
    let ttl = storage.settings.upload_url_ttl;
    let mut put = storage
        .s3
        .put_object()
        .bucket(&storage.settings.bucket)
        .key(object_key(spec.tenant, spec.document))
        .content_type(spec.content_type)
        .content_length(spec.size_bytes)
        .checksum_sha256(spec.sha256);
    put = match &storage.settings.kms_key_id {
        Some(key) => put
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(key)
            .ssekms_encryption_context(encryption_context(spec.tenant, spec.document)),
        None => put.server_side_encryption(ServerSideEncryption::Aes256),
    };
    let presigned = put.presigned(at(ttl, now)).await.unwrap();
    PresignedUpload {
        url: presigned.uri().to_owned(),
        headers: presigned
            .headers()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
            .collect(),
        expires_in: ttl,
    }
}

#[tokio::test]
async fn upload_urls_and_headers_are_the_sdk_presigners_byte_for_byte() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000);
    let spec = UploadSpec {
        tenant: Uuid::from_u128(7),
        document: Uuid::from_u128(9),
        content_type: "application/dicom",
        size_bytes: 104_857_600,
        sha256: "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
    };
    for (endpoint, token, sse_kms) in [
        (Some("http://127.0.0.1:9000"), None, true),
        (None, None, true),
        (None, Some("session-token/+="), true),
        (None, None, false),
    ] {
        let mut storage = storage(endpoint, token);
        if !sse_kms {
            storage.settings.kms_key_id = None;
        }
        let ours = storage.presign_upload_at(&spec, now).await.unwrap();
        let sdk = sdk_upload(&storage, &spec, now).await;
        assert_eq!(
            ours.url, sdk.url,
            "endpoint {endpoint:?}, SSE-KMS {sse_kms}"
        );
        assert_eq!(
            ours.headers, sdk.headers,
            "endpoint {endpoint:?}, SSE-KMS {sse_kms}"
        );
    }
}

/// A local endpoint that answers every request 503 (a transient error the SDK retries), one
/// connection each, counting them.
fn unavailable_endpoint() -> (String, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            counted.fetch_add(1, Ordering::SeqCst);
            let mut head = [0u8; 8192];
            let _ = stream.read(&mut head);
            let _ = stream.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    (format!("http://{address}"), requests)
}

#[tokio::test]
async fn the_readiness_probe_asks_once_where_other_calls_retry() {
    let (endpoint, requests) = unavailable_endpoint();
    let store = storage(Some(&endpoint), None);
    assert!(store.probe().await.is_err());
    assert_eq!(
        requests.load(Ordering::SeqCst),
        1,
        "the probe does not retry"
    );
    assert!(store.head("tenant/doc").await.is_err());
    assert_eq!(
        requests.load(Ordering::SeqCst),
        3,
        "an object's HEAD is retried once (two attempts)"
    );
}
