//! AWS Secrets Manager (or the plain environment) into typed, masked secrets.
//!
//! One secret holds a JSON object of string values. [`SecretsClient`] fetches and parses it
//! (with bounded retries at start), [`AppSecrets`] holds the result as [`SecretString`]s whose
//! `Debug` never shows a value, and [`SecretsHandle`] serves the current value to the
//! application while an optional background task picks up rotations.

#![forbid(unsafe_code)]

mod classify;
mod client;
mod error;
mod handle;
mod parse;
mod retry;
mod secrets;
mod settings;
#[cfg(test)]
mod test_log;

pub use client::SecretsClient;
pub use error::{SECRETS_ERROR_CODE, SecretsError};
pub use handle::{SecretsHandle, SecretsStatus};
pub use secrecy::{ExposeSecret, SecretString};
pub use secrets::{AppSecrets, DATABASE_URL, OIDC_CLIENT_SECRET};
pub use settings::{DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_RETRY_BUDGET, SecretsSettings};
