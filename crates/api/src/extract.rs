//! Extractors whose rejections speak the envelope: malformed JSON 400, wrong content type 415,
//! too large 413, and wrong types, unknown or missing fields 422 with per-field details.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError, codes};

/// `axum::Json` with envelope rejections.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

/// `axum::extract::Query` with envelope rejections.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(invalid(&e.body_text(), "query"))
            }
            Err(other) => Err(invalid(&other.body_text(), "query")),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => invalid(&e.body_text(), "body"),
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::new(codes::REQ_005).with_message("The request body is not valid JSON")
        }
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::new(codes::REQ_003).with_message("Expected Content-Type: application/json")
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(codes::REQ_002),
        _ => ApiError::new(codes::REQ_005),
    }
}

/// serde's message says which field and what was wrong ("title: invalid type: ..."); the
/// position within the JSON text is dropped, the field path kept.
fn invalid(text: &str, default_field: &str) -> ApiError {
    let detail = text.rsplit("target type: ").next().unwrap_or(text);
    let detail = detail.split(" at line ").next().unwrap_or(detail).trim();
    let (field, message) = match detail.split_once(": ") {
        Some((path, message)) if !path.contains(' ') => (path.to_owned(), message.to_owned()),
        _ => (
            unknown_field(detail).unwrap_or_else(|| default_field.to_owned()),
            detail.to_owned(),
        ),
    };
    ApiError::new(codes::VAL_001).with_details(vec![FieldError { field, message }])
}

/// "unknown field `foo`, expected ..." and "missing field `foo`" name the field themselves.
fn unknown_field(detail: &str) -> Option<String> {
    let start = detail.find('`')? + 1;
    let end = start + detail[start..].find('`')?;
    Some(detail[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(text: &str) -> (String, String) {
        let error = invalid(text, "body");
        let response = axum::response::IntoResponse::into_response(error);
        let body = response
            .extensions()
            .get::<crate::error::ErrorBody>()
            .unwrap()
            .clone();
        (
            body.details[0].field.clone(),
            body.details[0].message.clone(),
        )
    }

    #[test]
    fn serde_messages_become_field_details() {
        let (field, message) = details(
            "Failed to deserialize the JSON body into the target type: title: invalid type: integer `5`, expected a string at line 1 column 11",
        );
        assert_eq!(field, "title");
        assert_eq!(message, "invalid type: integer `5`, expected a string");
        let (field, _) = details(
            "Failed to deserialize the JSON body into the target type: unknown field `colour`, expected one of `title` at line 1 column 9",
        );
        assert_eq!(field, "colour");
        let (field, _) = details(
            "Failed to deserialize the JSON body into the target type: missing field `code` at line 1 column 2",
        );
        assert_eq!(field, "code");
    }
}
