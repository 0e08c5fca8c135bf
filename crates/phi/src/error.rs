//! What can go wrong with PHI fields, split by what the caller must do about it.

use haven_db::ids::TenantId;
use uuid::Uuid;

/// Counter of ciphertexts that failed authentication, labelled by table and column only.
pub const INTEGRITY_FAILURES_METRIC: &str = "phi_integrity_failures_total";

/// A failure of the encryption layer. The API maps each variant to one documented code:
/// `Integrity` → 500 `PHI_001`, `KeyServiceUnavailable` → 503 `PHI_002` with `Retry-After`,
/// `TenantShredded` → 410 `PHI_003`; `Database` as any database error; `Misconfigured` → 500.
#[derive(Debug, thiserror::Error)]
pub enum PhiError {
    /// A stored ciphertext (or wrapped key) failed authentication: tampering, corruption, or a
    /// value moved to another row, column or tenant. Never carries the value.
    #[error(
        "{table}.{column} of row {row_id} failed authentication (tampered, corrupted or moved)"
    )]
    Integrity {
        table: String,
        column: String,
        row_id: Uuid,
    },
    /// KMS (or the configured key wrapper) could not be reached or refused to answer now; a
    /// retry later may succeed.
    #[error("the key service is unavailable: {reason}")]
    KeyServiceUnavailable { reason: String },
    /// The tenant's keys were destroyed (`haven tenants shred`): its PHI is unrecoverable.
    #[error("tenant {0} was crypto-shredded")]
    TenantShredded(TenantId),
    /// The key a ciphertext names is not (or no longer) available for this tenant.
    #[error(
        "{table}.{column} of row {row_id} uses key version {version}, which this tenant does not have"
    )]
    UnknownKeyVersion {
        table: String,
        column: String,
        row_id: Uuid,
        version: u32,
    },
    /// A setting or stored key does not fit this process (e.g. a key wrapped by KMS while the
    /// process runs in local mode). An operator must act.
    #[error("PHI encryption is misconfigured: {0}")]
    Misconfigured(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl PhiError {
    /// Builds the integrity error, logs it (table, column and row id, never the value) and
    /// counts it in [`INTEGRITY_FAILURES_METRIC`].
    pub(crate) fn integrity(table: &str, column: &str, row_id: Uuid) -> Self {
        tracing::error!(
            error_code = "PHI_001",
            table,
            column,
            row_id = %row_id,
            "a PHI ciphertext failed authentication"
        );
        metrics::counter!(
            INTEGRITY_FAILURES_METRIC,
            "table" => table.to_owned(),
            "column" => column.to_owned()
        )
        .increment(1);
        Self::Integrity {
            table: table.to_owned(),
            column: column.to_owned(),
            row_id,
        }
    }

    pub(crate) fn unavailable(reason: impl Into<String>) -> Self {
        Self::KeyServiceUnavailable {
            reason: reason.into(),
        }
    }
}
