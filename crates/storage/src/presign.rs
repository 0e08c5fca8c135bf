//! Presigned URLs signed by `aws-sigv4`, the SDK's own SigV4 signer, without the SDK's per-call
//! orchestration (runtime plugins, interceptors, endpoint rules): that took about 70 µs of the
//! service's CPU per URL, most of what a download link cost (docs/PERFORMANCE.md).
//!
//! What the SDK decides stays the SDK's: the bucket's endpoint is its answer to one presign,
//! asked once; credentials come from the client's own provider, cached until shortly before
//! they expire. A test keeps every URL and header byte-identical to the SDK presigner's for
//! the same request, credentials and time.

use std::borrow::Cow;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_http::label::{EncodingStrategy, fmt_string as encode_key};
use aws_smithy_http::query::fmt_string as encode_query;

use crate::error::StorageError;

/// Credentials are fetched again when they expire within this margin.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// The object key the endpoint probe presigns (nothing is ever sent to it).
const PROBE_KEY: &str = "haven-endpoint-probe";

/// Appends one query parameter to `url` as the SDK's `QueryWriter::insert` does: `?` first,
/// then `&`, name and value percent-encoded by the SDK's own query encoder.
fn append_query(url: &mut String, name: &str, value: &str) {
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&encode_query(name));
    url.push('=');
    url.push_str(&encode_query(value));
}

/// One request to presign: method, object key, query parameters and headers (each signed), in
/// the order the SDK's serializer writes them.
pub(crate) struct Unsigned<'a> {
    pub method: &'static str,
    pub key: &'a str,
    pub query: &'a [(&'a str, &'a str)],
    pub headers: &'a [(&'a str, Cow<'a, str>)],
}

#[derive(Debug)]
pub(crate) struct Presigner {
    region: Option<String>,
    provider: Option<SharedCredentialsProvider>,
    cached: Mutex<Option<Credentials>>,
    /// One credentials fetch at a time; the others wait for its result.
    refresh: tokio::sync::Mutex<()>,
    /// The bucket's base URL (scheme, host and, path-style, `/bucket`), from the SDK.
    base: OnceLock<String>,
}

impl Presigner {
    /// The client's region, and the credentials provider it was given (the loaded
    /// `SdkConfig`'s: the S3 config does not hand its own back).
    pub(crate) fn new(
        config: &aws_sdk_s3::Config,
        provider: Option<SharedCredentialsProvider>,
    ) -> Presigner {
        Presigner {
            region: config.region().map(|r| r.as_ref().to_owned()),
            provider,
            cached: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
            base: OnceLock::new(),
        }
    }

    /// The bucket's base URL: the SDK's presigned URL for a probe key, without the key. The
    /// endpoint rules depend on the bucket, region and settings, never on the key.
    pub(crate) async fn base(
        &self,
        s3: &aws_sdk_s3::Client,
        bucket: &str,
    ) -> Result<&str, StorageError> {
        if let Some(base) = self.base.get() {
            return Ok(base);
        }
        let config = aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(60))
            .map_err(|e| StorageError::Presign(e.to_string()))?;
        let probe = s3
            .get_object()
            .bucket(bucket)
            .key(PROBE_KEY)
            .presigned(config)
            .await
            .map_err(|e| StorageError::Presign(e.to_string()))?;
        let suffix = format!("/{PROBE_KEY}");
        let path_end = probe.uri().find('?').unwrap_or(probe.uri().len());
        let base = probe.uri()[..path_end]
            .strip_suffix(&suffix)
            .ok_or_else(|| StorageError::Presign(format!("unexpected URL {}", probe.uri())))?;
        Ok(self.base.get_or_init(|| base.to_owned()))
    }

    /// The client's credentials, cached until `REFRESH_MARGIN` before they expire.
    async fn credentials(&self) -> Result<Credentials, StorageError> {
        if let Some(fresh) = self.fresh() {
            return Ok(fresh);
        }
        let _one_at_a_time = self.refresh.lock().await;
        if let Some(fresh) = self.fresh() {
            return Ok(fresh);
        }
        let provider = self
            .provider
            .as_ref()
            .ok_or_else(|| StorageError::Presign("no credentials provider".to_owned()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| StorageError::Presign(e.to_string()))?;
        *self.lock_cache() = Some(credentials.clone());
        Ok(credentials)
    }

    fn fresh(&self) -> Option<Credentials> {
        let cached = self.lock_cache();
        let credentials = cached.as_ref()?;
        match credentials.expiry() {
            Some(expiry) if expiry <= SystemTime::now() + REFRESH_MARGIN => None,
            _ => Some(credentials.clone()),
        }
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, Option<Credentials>> {
        // The cache holds a complete value or none: a panic elsewhere cannot leave it torn.
        self.cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Signs `request` for `ttl` from `now`, as the SDK presigns S3 requests: signature in the
    /// query, unsigned payload, single URI encoding, no path normalisation. The URL, and every
    /// header the request must carry (lowercase names; `host` is implied by the URL).
    pub(crate) async fn presign(
        &self,
        base: &str,
        request: &Unsigned<'_>,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<(String, Vec<(String, String)>), StorageError> {
        let failed = |e: &dyn std::fmt::Display| StorageError::Presign(e.to_string());
        // The URL is assembled as the SDK's `QueryWriter` writes it (the same encoder), as a
        // string: no `Uri` parsed and printed again on each side of the signing.
        let mut url = format!(
            "{base}/{}",
            encode_key(request.key, EncodingStrategy::Greedy)
        );
        for (name, value) in request.query {
            append_query(&mut url, name, value);
        }
        let credentials = self.credentials().await?;
        let identity = credentials.into();
        let region = self.region.as_deref().ok_or_else(|| failed(&"no region"))?;
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.session_token_mode = SessionTokenMode::Include;
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(ttl);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name("s3")
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| failed(&e))?;
        let headers = request.headers.iter().map(|(n, v)| (*n, v.as_ref()));
        let signable =
            SignableRequest::new(request.method, &url, headers, SignableBody::UnsignedPayload)
                .map_err(|e| failed(&e))?;
        let (instructions, _) = sign(signable, &params.into())
            .map_err(|e| failed(&e))?
            .into_parts();
        // With the signature in the query, the instructions are query parameters only; they
        // are appended as the SDK's `apply_to_request_http1x` appends them.
        let (added_headers, signed) = instructions.into_parts();
        if !added_headers.is_empty() {
            return Err(failed(&"signing asked for headers on a presigned URL"));
        }
        for (name, value) in &signed {
            append_query(&mut url, name, value);
        }
        let headers = request
            .headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone().into_owned()))
            .collect();
        Ok((url, headers))
    }
}
