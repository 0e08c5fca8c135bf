//! Renders every non-2xx response, whoever produced it, into the one envelope.

use std::any::Any;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, ErrorBody, codes};
use crate::http::request_id::RequestId;

/// Renders a response into the envelope (by `http::front::Front`, for every response):
/// handler errors arrive as an [`ErrorBody`] extension; anything else that is not
/// a success (the router's 404/405, the body limit's 413, the timeout's 504) gets the code for
/// its status. The original body is dropped: it may be plain text or internal detail.
pub fn render(mut response: Response, request_id: Option<&RequestId>) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let body = response
        .extensions_mut()
        .remove::<ErrorBody>()
        .unwrap_or_else(|| ErrorBody {
            code: codes::for_status(status),
            message: codes::for_status(status).message.into(),
            details: Vec::new(),
            extra: None,
        });
    tracing::Span::current().record("error_code", body.code.code);
    let mut document = body.extra.unwrap_or_default();
    document.insert(
        "error".to_owned(),
        json!({
            "code": body.code.code,
            "message": body.message,
            "request_id": request_id.map(RequestId::as_str),
            "details": body.details,
        }),
    );
    let bytes = serde_json::to_vec(&document).unwrap_or_default();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.remove(header::CONTENT_LENGTH);
    *response.body_mut() = Body::from(bytes);
    response
}

/// `CatchPanicLayer` handler: a panic becomes a 500 in the envelope. The panic itself was
/// already logged by the panic hook (see `telemetry`), inside the request span.
pub fn panic_response(_payload: Box<dyn Any + Send + 'static>) -> Response {
    let mut response = ApiError::new(codes::SYS_003).into_response();
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}
