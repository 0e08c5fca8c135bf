//! Field-encryption failures as API errors: each kind has its documented code.

use haven_phi::PhiError;

use super::{ApiError, codes};

/// How long a client should wait before retrying when KMS is unavailable (haven-phi fails key
/// misses fast for the same 5 s after a KMS failure).
const KMS_RETRY_AFTER_SECONDS: u64 = 5;

impl From<PhiError> for ApiError {
    fn from(error: PhiError) -> Self {
        match error {
            // Already logged (table, column, row id; never the value) and counted by haven-phi.
            PhiError::Integrity { .. } | PhiError::UnknownKeyVersion { .. } => {
                ApiError::new(codes::PHI_001).with_source(error)
            }
            PhiError::KeyServiceUnavailable { .. } => ApiError::new(codes::PHI_002)
                .with_retry_after(KMS_RETRY_AFTER_SECONDS)
                .with_source(error),
            PhiError::TenantShredded(_) => ApiError::new(codes::PHI_003).with_source(error),
            PhiError::Database(database) => database.into(),
            PhiError::Misconfigured(_) => ApiError::internal(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::*;

    #[test]
    fn each_failure_maps_to_its_documented_code_and_status() {
        let unavailable: ApiError = PhiError::KeyServiceUnavailable {
            reason: "connection refused".into(),
        }
        .into();
        assert_eq!(unavailable.code(), codes::PHI_002);
        let response = unavailable.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "5");

        let integrity: ApiError = PhiError::Integrity {
            table: "patients".into(),
            column: "family_name".into(),
            row_id: uuid::Uuid::nil(),
        }
        .into();
        assert_eq!(integrity.code(), codes::PHI_001);
        assert_eq!(
            integrity.into_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );

        let shredded: ApiError =
            PhiError::TenantShredded(haven_db::ids::TenantId::from_uuid(uuid::Uuid::nil())).into();
        assert_eq!(shredded.code(), codes::PHI_003);
        assert_eq!(shredded.into_response().status(), StatusCode::GONE);
    }
}
