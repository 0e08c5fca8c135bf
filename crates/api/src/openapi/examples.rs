//! An example envelope on every documented error response, with the code that response
//! describes: the first registry code named in its description whose status is the response's
//! (e.g. "... (AUTH_009)"), else the registry's code for the status.

use axum::http::StatusCode;
use serde_json::{Value, json};
use utoipa::openapi::path::Operation;
use utoipa::openapi::{OpenApi, RefOr, Response};

use crate::error::{ErrorCode, codes};

/// The request id every example shows (a real one is a UUID, or the caller's own id).
const EXAMPLE_REQUEST_ID: &str = "3f1c9a1e-5b0e-4b8e-9a43-2f1d1c0e9b7a";

/// Adds the examples to the operations' own error responses and to the shared ones under
/// `components.responses` (called once every response is in the document).
pub fn add_error_examples(openapi: &mut OpenApi) {
    if let Some(components) = openapi.components.as_mut() {
        for response in components.responses.values_mut() {
            if let RefOr::T(response) = response
                && let Some(status) = status_of_component(response)
            {
                set_example(status, response);
            }
        }
    }
    for item in openapi.paths.paths.values_mut() {
        crate::openapi::operations_mut(item).for_each(add_to);
    }
}

fn add_to(operation: &mut Operation) {
    for (status, response) in operation.responses.responses.iter_mut() {
        let (Ok(status), RefOr::T(response)) = (status.parse::<StatusCode>(), response) else {
            continue;
        };
        set_example(status, response);
    }
}

/// A shared response's status: the registry code its description names.
fn status_of_component(response: &Response) -> Option<StatusCode> {
    codes_named(&response.description).next().map(|c| c.status)
}

fn codes_named(text: &str) -> impl Iterator<Item = ErrorCode> + '_ {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter_map(codes::by_code)
}

/// The code an example of `status` shows, given the response's description.
fn example_code(status: StatusCode, description: &str) -> Option<ErrorCode> {
    codes_named(description)
        .find(|c| c.status == status)
        .or_else(|| Some(codes::for_status(status)).filter(|c| c.status == status))
        .or_else(|| codes::ALL.iter().copied().find(|c| c.status == status))
}

/// The envelope for `code`; a validation error shows one field problem in `details`.
pub fn example_envelope(code: ErrorCode) -> Value {
    let details = if code == codes::VAL_001 {
        json!([{
            "field": "limit",
            "message": format!(
                "must be an integer between 1 and {}",
                haven_db::page::PageLimit::MAX.get()
            ),
        }])
    } else {
        json!([])
    };
    json!({"error": {
        "code": code.code,
        "message": code.message,
        "request_id": EXAMPLE_REQUEST_ID,
        "details": details,
    }})
}

/// Sets the example of an error response whose JSON body is the envelope (not, say,
/// readiness's 503, which has a schema of its own).
fn set_example(status: StatusCode, response: &mut Response) {
    if !(status.is_client_error() || status.is_server_error()) {
        return;
    }
    let Some(code) = example_code(status, &response.description) else {
        return;
    };
    let Some(RefOr::T(content)) = response.content.get_mut("application/json") else {
        return;
    };
    let is_envelope = matches!(&content.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/ErrorEnvelope"));
    if is_envelope && content.example.is_none() {
        content.example = Some(example_envelope(code));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_code_is_the_one_the_description_names_for_that_status() {
        let code = |status, text| example_code(status, text).map(|c| c.code);
        assert_eq!(
            code(StatusCode::FORBIDDEN, "Missing role (AUTH_009)"),
            Some("AUTH_009")
        );
        // A code of another status in the text is passed over.
        assert_eq!(
            code(
                StatusCode::SERVICE_UNAVAILABLE,
                "Rate limited (RATE_001) or no database (SYS_001)"
            ),
            Some("SYS_001")
        );
        assert_eq!(
            code(StatusCode::UNAUTHORIZED, "Bad token"),
            Some("AUTH_001")
        );
        assert_eq!(code(StatusCode::FORBIDDEN, "Refused"), Some("AUTH_002"));
        assert_eq!(code(StatusCode::OK, "fine"), None);
    }

    #[test]
    fn a_validation_example_has_details_and_others_do_not() {
        assert_eq!(
            example_envelope(codes::VAL_001)["error"]["details"][0]["field"],
            "limit"
        );
        assert_eq!(
            example_envelope(codes::RES_001)["error"]["details"],
            json!([])
        );
    }
}
