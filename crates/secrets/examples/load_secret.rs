//! Loads a secret through the production path (`SecretsClient::new`, the default AWS chain)
//! and prints the names of the keys it holds, one per line; never a value.
//!
//! Usage: `load_secret <secret-id> [retry-budget-ms]`. On failure prints the error's code and
//! message to stderr and exits with status 1.

use std::process::ExitCode;
use std::time::Duration;

use haven_secrets::{SecretsClient, SecretsSettings};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    let mut args = std::env::args().skip(1);
    let Some(secret_id) = args.next() else {
        eprintln!("usage: load_secret <secret-id> [retry-budget-ms]");
        return ExitCode::from(2);
    };
    let mut settings = SecretsSettings::new(secret_id);
    if let Some(budget) = args.next() {
        match budget.parse() {
            Ok(millis) => settings.retry_budget = Duration::from_millis(millis),
            Err(_) => {
                eprintln!("retry-budget-ms must be a whole number of milliseconds");
                return ExitCode::from(2);
            }
        }
    }
    let client = SecretsClient::new(settings).await;
    match client.load_with_retry().await {
        Ok(secrets) => {
            // Debug output goes to stderr too, so the tests check that it stays masked.
            eprintln!("{secrets:?}");
            for name in secrets.key_names() {
                println!("{name}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error {}: {error}", error.code());
            ExitCode::FAILURE
        }
    }
}
