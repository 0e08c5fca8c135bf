//! The one error type and the one envelope every non-2xx response carries.

pub mod codes;
mod envelope;
mod phi;

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub use codes::ErrorCode;
pub use envelope::{panic_response, render as render_envelope};

/// A field-level validation problem, as listed in `details`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// What a failed request tells its client. Rendered into the envelope by [`render_envelope`],
/// which knows the request id.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
    pub details: Vec<FieldError>,
    /// Extra top-level members (readiness keeps its `status` and `checks` beside `error`).
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The error handlers return. Public parts go to the client; `source` only to the log. Boxed,
/// so a `Result<T, ApiError>` stays one pointer wide on the happy path.
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    body: ErrorBody,
    retry_after: Option<u64>,
    source: Option<anyhow::Error>,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self(Box::new(Inner {
            body: ErrorBody {
                code,
                message: Cow::Borrowed(code.message),
                details: Vec::new(),
                extra: None,
            },
            retry_after: None,
            source: None,
        }))
    }

    /// A 500 whose cause is logged (once, in the request span) and never shown.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        Self::new(codes::SYS_003).with_source(source)
    }

    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.0.body.message = message.into();
        self
    }

    pub fn with_details(mut self, details: Vec<FieldError>) -> Self {
        self.0.body.details = details;
        self
    }

    pub fn with_source(mut self, source: impl Into<anyhow::Error>) -> Self {
        self.0.source = Some(source.into());
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.0.retry_after = Some(seconds);
        self
    }

    pub fn with_extra(mut self, extra: serde_json::Map<String, serde_json::Value>) -> Self {
        self.0.body.extra = Some(extra);
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.0.body.code
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        // A PHI field that could not be opened (integrity, key version) has its own code.
        let error = match error {
            sqlx::Error::Decode(source) => match source.downcast::<haven_phi::PhiError>() {
                Ok(phi) => return (*phi).into(),
                Err(source) => sqlx::Error::Decode(source),
            },
            other => other,
        };
        match &error {
            // Pool exhausted or database gone: the client may retry; this is not a bug.
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::new(codes::SYS_001)
                    .with_retry_after(1)
                    .with_source(error)
            }
            sqlx::Error::RowNotFound => Self::new(codes::RES_001),
            _ => Self::internal(error),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.body.code.status;
        if let Some(source) = &self.0.source {
            if status.is_server_error() {
                tracing::error!(
                    error_code = self.0.body.code.code,
                    error = format!("{source:#}"),
                    "request failed"
                );
            } else {
                tracing::debug!(
                    error_code = self.0.body.code.code,
                    error = format!("{source:#}"),
                    "request rejected"
                );
            }
        }
        let mut response = status.into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        if let Some(seconds) = self.0.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(self.0.body);
        response
    }
}
