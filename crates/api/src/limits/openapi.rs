//! The answers the layers may give any operation, documented in the OpenAPI document:
//! 429 (rate limit), 503 (shed at the concurrency cap, or no database connection), 504 (request
//! timeout), 500 (a panic caught by the panic layer), and for operations taking a body 413 (body
//! cap), 415 (not JSON), 400 (JSON that does not parse) and 408 (the body did not arrive in time). Defined once
//! under `components.responses` and referenced from every operation but the health probes
//! (which are exempt, and document their own 503).

use utoipa::openapi::path::Operation;
use utoipa::openapi::{
    Content, HeaderBuilder, KnownFormat, ObjectBuilder, OpenApi, Ref, RefOr, Response,
    ResponseBuilder, SchemaFormat, Type,
};

const RESPONSES: [(&str, &str, &str); 8] = [
    (
        "429",
        "TooManyRequests",
        "Rate limit exceeded (RATE_001), or the tenant already uses its full share of the \
         database (RATE_002): retry after `Retry-After` seconds. Limits are per subject and \
         tenant, or per client IP without credentials (docs/API.md)",
    ),
    (
        "503",
        "ServiceUnavailable",
        "At capacity (SYS_004) or no database connection within the acquire timeout \
         (SYS_001): retry after `Retry-After` seconds",
    ),
    (
        "504",
        "GatewayTimeout",
        "The request took longer than REQUEST_TIMEOUT_SECONDS (REQ_004)",
    ),
    (
        "500",
        "InternalError",
        "A bug (SYS_003): the message says only \"Internal error\"; the cause is logged under \
         the same request id",
    ),
    (
        "413",
        "PayloadTooLarge",
        "The body exceeds MAX_BODY_BYTES (REQ_002)",
    ),
    (
        "415",
        "UnsupportedMediaType",
        "The body is not `application/json` (REQ_003)",
    ),
    ("400", "MalformedJson", "The body is not JSON (REQ_005)"),
    (
        "408",
        "RequestTimeout",
        "The body did not arrive within REQUEST_TIMEOUT_SECONDS (REQ_006): the client was too \
         slow to send it",
    ),
];

fn integer_header(description: &str) -> utoipa::openapi::Header {
    HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(0)),
        ))
        .description(Some(description))
        .build()
}

fn component(name: &str, description: &str) -> Response {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        Content::new(Some(Ref::from_schema_name("ErrorEnvelope"))),
    );
    if matches!(name, "TooManyRequests" | "ServiceUnavailable") {
        response = response.header("Retry-After", integer_header("Seconds to wait"));
    }
    if name == "TooManyRequests" {
        response = response
            .header(
                "RateLimit-Limit",
                integer_header("Requests the budget holds at once"),
            )
            .header("RateLimit-Remaining", integer_header("Requests left now"))
            .header(
                "RateLimit-Reset",
                integer_header("Seconds until the budget is full again"),
            );
    }
    response.build()
}

fn add_to(operation: &mut Operation) {
    let takes_body = operation.request_body.is_some();
    for (status, name, _) in RESPONSES {
        if matches!(status, "400" | "408" | "413" | "415") && !takes_body {
            continue;
        }
        // A handler's own, more specific description of a status wins.
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    }
}

/// Adds the shared responses to `openapi` (called once the routes are in it).
pub fn document_limit_responses(openapi: &mut OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    for (_, name, description) in RESPONSES {
        components
            .responses
            .insert(name.to_owned(), RefOr::T(component(name, description)));
    }
    for (path, item) in openapi.paths.paths.iter_mut() {
        if super::is_probe(path) {
            continue;
        }
        crate::openapi::operations_mut(item).for_each(add_to);
    }
}
