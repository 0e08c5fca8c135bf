//! `haven db create-runtime-login`: the service's own non-superuser database login.

use std::process::ExitCode;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Subcommand;

use super::operators::{EXIT_UNABLE, describe, pool};
use crate::config::OperatorConfig;

#[derive(Debug, Subcommand)]
pub enum DbAction {
    /// Create (or reset the password of) a LOGIN role for the service that is not a superuser,
    /// so row-level security cannot be left from a tenant transaction. Run it with the owner's
    /// DATABASE_URL; it prints the new password once. Point the service's DATABASE_URL at the
    /// new role and keep running `haven migrate up` with the owner's URL.
    CreateRuntimeLogin {
        /// The role name.
        #[arg(long, default_value = "haven_runtime")]
        role: String,
    },
}

pub async fn db(config: &OperatorConfig, action: DbAction) -> ExitCode {
    let DbAction::CreateRuntimeLogin { role } = action;
    let valid = !role.is_empty()
        && role.len() <= 63
        && role
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid || role == haven_db::tenant::RUNTIME_ROLE {
        eprintln!("haven: --role must be 1 to 63 of a-z 0-9 _ and not haven_app");
        return ExitCode::from(EXIT_UNABLE);
    }
    let pool = match pool(config).await {
        Ok(pool) => pool,
        Err(code) => return code,
    };
    let mut secret = [0_u8; 32];
    rand::fill(&mut secret);
    let password = URL_SAFE_NO_PAD.encode(secret);
    let created = haven_db::runtime_login::create(&pool, &role, &password).await;
    pool.close().await;
    match created {
        Ok(()) => {
            println!("role\t{role}");
            println!("password\t{password}");
            println!(
                "Set the service's DATABASE_URL to this role and password (same host and \
                 database); keep the owner's URL for `haven migrate up`."
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("haven: cannot create the login: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}
