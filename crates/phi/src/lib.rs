//! Field-level PHI encryption: per-tenant envelope keys (AWS KMS, or a local master key in
//! development), AES-256-GCM field ciphertexts bound to their tenant, table, column and row,
//! blind indexes for exact-match search, key rotation with batch re-encryption, and
//! crypto-shredding. No HTTP types live here; `haven-api` maps [`PhiError`] to its envelope.
//!
//! The db layer's query functions call [`TenantKeys::encrypt_field`],
//! [`TenantKeys::decrypt_field`] and [`TenantKeys::blind_index`] on a handle obtained once per
//! transaction with [`Phi::tenant_keys`] (which reads through the caller's `TenantTx`).
#![forbid(unsafe_code)]

mod blind;
mod breaker;
mod cache;
mod error;
mod field;
mod format;
mod key;
mod phi;
pub mod reencrypt;
mod settings;
mod tenant_fields;
mod wrap;

pub use blind::{BlindIndexKind, normalise};
pub use error::{INTEGRITY_FAILURES_METRIC, PhiError};
pub use field::Field;
pub use format::{FORMAT_ENCRYPTED, FORMAT_LEGACY_PLAINTEXT, format_of, key_version_of};
pub use key::TenantKeys;
pub use phi::{KeyStatus, Phi, RotateOutcome, ShredOutcome};
pub use settings::{LOCAL_MASTER_KEY, PhiMode, PhiSettings, SettingsError};
pub use tenant_fields::{TenantFields, tenant_fields};
