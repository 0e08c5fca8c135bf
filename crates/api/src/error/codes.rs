//! The error-code registry: every code a client can see, its status and its public message.
//! docs/ERROR_CODES.md lists the same codes; a test keeps the two in step.

use axum::http::StatusCode;

/// One entry of the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode {
    pub code: &'static str,
    pub status: StatusCode,
    pub message: &'static str,
}

macro_rules! registry {
    ($($name:ident = ($status:ident, $message:literal);)*) => {
        $(pub const $name: ErrorCode = ErrorCode {
            code: stringify!($name),
            status: StatusCode::$status,
            message: $message,
        };)*
        /// Every code, in registry order.
        pub const ALL: &[ErrorCode] = &[$($name),*];
    };
}

registry! {
    AUTH_001 = (UNAUTHORIZED, "Invalid or missing authentication token");
    AUTH_002 = (FORBIDDEN, "Login state verification failed");
    AUTH_003 = (UNAUTHORIZED, "Authentication token has expired");
    AUTH_004 = (UNAUTHORIZED, "Authentication token signature is invalid");
    AUTH_005 = (FORBIDDEN, "Authentication token has no tenant claim");
    AUTH_006 = (BAD_REQUEST, "Redirect URI is not allowed");
    AUTH_007 = (FORBIDDEN, "Authentication token has a malformed tenant claim");
    AUTH_008 = (SERVICE_UNAVAILABLE, "Identity provider is unavailable");
    AUTH_009 = (FORBIDDEN, "Insufficient role for this operation");
    AUTH_010 = (BAD_REQUEST, "Authorization code was rejected by the identity provider");
    AUTH_011 = (UNAUTHORIZED, "Refresh token was rejected by the identity provider");
    AUTH_012 = (BAD_GATEWAY, "The identity provider issued an access token this service does not accept");
    TENANT_001 = (FORBIDDEN, "Tenant is not known");
    TENANT_002 = (FORBIDDEN, "Tenant is suspended");
    USER_001 = (FORBIDDEN, "User is disabled");
    RES_001 = (NOT_FOUND, "Resource not found");
    RES_002 = (CONFLICT, "Resource conflict");
    IDEM_001 = (UNPROCESSABLE_ENTITY, "Idempotency-Key was already used with a different request");
    REQ_001 = (METHOD_NOT_ALLOWED, "Method not allowed");
    REQ_002 = (PAYLOAD_TOO_LARGE, "Request body is too large");
    REQ_003 = (UNSUPPORTED_MEDIA_TYPE, "Unsupported content type");
    REQ_004 = (GATEWAY_TIMEOUT, "Request timed out");
    REQ_005 = (BAD_REQUEST, "Malformed request");
    REQ_006 = (REQUEST_TIMEOUT, "Request body was not received in time");
    RATE_001 = (TOO_MANY_REQUESTS, "Rate limit exceeded");
    RATE_002 = (TOO_MANY_REQUESTS, "Your tenant is using its full share of the service");
    VAL_001 = (UNPROCESSABLE_ENTITY, "Invalid input");
    SYS_001 = (SERVICE_UNAVAILABLE, "Database is unavailable");
    SYS_002 = (SERVICE_UNAVAILABLE, "Secrets Manager is unavailable");
    SYS_003 = (INTERNAL_SERVER_ERROR, "Internal error");
    SYS_004 = (SERVICE_UNAVAILABLE, "Service is unavailable");
    STORAGE_001 = (SERVICE_UNAVAILABLE, "Document storage is not configured");
    STORAGE_002 = (SERVICE_UNAVAILABLE, "Document storage is unavailable");
    UPLOAD_001 = (CONFLICT, "The document is not awaiting an upload");
    UPLOAD_002 = (UNPROCESSABLE_ENTITY, "The uploaded object does not match the document");
    UPLOAD_003 = (CONFLICT, "No object has been uploaded for this document yet");
    CONTENT_001 = (CONFLICT, "The document's content is not available for download");
    CONTENT_002 = (CONFLICT, "The document's content fields are set by its upload");
    PHI_001 = (INTERNAL_SERVER_ERROR, "Stored data failed an integrity check");
    PHI_002 = (SERVICE_UNAVAILABLE, "Key service is unavailable");
    PHI_003 = (GONE, "Tenant data was erased");
}

/// The registry entry for a code string (codes produced outside this module, e.g. by `auth`).
pub fn by_code(code: &str) -> Option<ErrorCode> {
    ALL.iter().copied().find(|c| c.code == code)
}

/// The code for a non-2xx response that no handler described (a layer's or the router's own).
pub fn for_status(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::BAD_REQUEST => REQ_005,
        StatusCode::UNAUTHORIZED => AUTH_001,
        StatusCode::NOT_FOUND => RES_001,
        StatusCode::METHOD_NOT_ALLOWED => REQ_001,
        StatusCode::PAYLOAD_TOO_LARGE => REQ_002,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => REQ_003,
        StatusCode::REQUEST_TIMEOUT => REQ_006,
        StatusCode::GATEWAY_TIMEOUT => REQ_004,
        StatusCode::UNPROCESSABLE_ENTITY => VAL_001,
        StatusCode::TOO_MANY_REQUESTS => RATE_001,
        StatusCode::SERVICE_UNAVAILABLE => SYS_004,
        s if s.is_client_error() => REQ_005,
        _ => SYS_003,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_the_database_records_for_audited_reads_are_the_registrys() {
        // An audited read writes its refusal's code in SQL, before the handler answers.
        assert_eq!(haven_db::audit_event::NOT_FOUND_CODE, RES_001.code);
        assert_eq!(
            haven_db::documents::content::DOWNLOAD_REFUSED_CODE,
            CONTENT_001.code
        );
    }

    #[test]
    fn codes_are_unique_and_statuses_are_errors() {
        let mut seen = std::collections::HashSet::new();
        for code in ALL {
            assert!(seen.insert(code.code), "duplicate {}", code.code);
            assert!(code.status.is_client_error() || code.status.is_server_error());
        }
    }
}
