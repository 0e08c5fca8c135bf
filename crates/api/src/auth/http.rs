//! HTTP client for the identity provider: reqwest 0.13, no redirects, time- and size-bounded,
//! also usable as openidconnect's `AsyncHttpClient`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

/// Why a request to the identity provider failed (for logs; never shown to clients).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The request could not be built or the client could not be created.
    #[error("invalid request: {0}")]
    Build(String),
    /// Connection, TLS, timeout or protocol failure.
    #[error("transport error: {0}")]
    Transport(#[source] reqwest::Error),
    /// The response body is larger than allowed.
    #[error("response body exceeds {limit} bytes")]
    TooLarge {
        /// The cap that was exceeded.
        limit: usize,
    },
}

/// A reqwest client that never follows redirects and reads at most `max_body` bytes of a
/// response within `timeout` (connect + headers + body).
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    max_body: usize,
}

impl HttpClient {
    /// Builds the client.
    pub fn new(timeout: Duration, max_body: usize) -> Result<Self, HttpError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("haven/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Build(e.to_string()))?;
        Ok(Self { client, max_body })
    }

    /// Largest response body this client reads.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// Sends `request` and returns the response with its body read (bounded).
    pub async fn execute(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let request =
            reqwest::Request::try_from(request).map_err(|e| HttpError::Build(e.to_string()))?;
        let mut response = self
            .client
            .execute(request)
            .await
            .map_err(HttpError::Transport)?;
        let limit = self.max_body;
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(HttpError::TooLarge { limit });
        }
        let mut builder = http::Response::builder().status(response.status());
        if let Some(headers) = builder.headers_mut() {
            headers.extend(
                response
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(HttpError::Transport)? {
            if body.len() + chunk.len() > limit {
                return Err(HttpError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        builder
            .body(body)
            .map_err(|e| HttpError::Build(e.to_string()))
    }

    /// GET `url` with `Accept: application/json`, conditional on `if_none_match` when given.
    pub async fn get_json(
        &self,
        url: &url::Url,
        if_none_match: Option<&str>,
    ) -> Result<HttpResponse, HttpError> {
        let mut request =
            http::Request::get(url.as_str()).header(http::header::ACCEPT, "application/json");
        if let Some(etag) = if_none_match {
            request = request.header(http::header::IF_NONE_MATCH, etag);
        }
        let request = request
            .body(Vec::new())
            .map_err(|e| HttpError::Build(e.to_string()))?;
        self.execute(request).await
    }
}

impl<'c> AsyncHttpClient<'c> for HttpClient {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.execute(request))
    }
}
