//! The command line: `serve` (default), `migrate status|up|new`, `healthcheck`, `config check`,
//! `tenants create|list|suspend|activate|offboard|rotate-key|shred`, `users disable|enable`,
//! `jwks refresh`, `audit verify`, `db create-runtime-login`, `documents purge`, `storage check`,
//! `phi reencrypt|encrypt-existing`.

mod content;
mod db;
mod new_migration;
mod operators;
mod phi;
mod users;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigErrors, OperatorConfig};
use crate::startup::Application;
use crate::telemetry;
pub use content::{DocumentsAction, StorageAction};
pub use db::DbAction;
pub use operators::{AuditAction, TenantsAction};
pub use phi::PhiAction;
pub use users::{JwksAction, OPERATOR_ACTOR, UsersAction};

#[derive(Debug, Parser)]
#[command(
    name = "haven",
    version,
    about = "Haven: a multi-tenant, HIPAA-style API service"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Inspect or apply the database migrations embedded in this binary.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Probe the local liveness endpoint; exit 0 when it answers 200 (for Docker's HEALTHCHECK).
    Healthcheck {
        /// Port of the local service.
        #[arg(long, env = "PORT", default_value_t = 8000)]
        port: u16,
    },
    /// Print the OpenAPI 3.1 document (the committed docs/openapi.json is this output).
    Openapi,
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Manage tenants (operator command; runs as the database owner, not tenant-scoped).
    Tenants {
        #[command(subcommand)]
        action: TenantsAction,
    },
    /// Disable or enable a tenant's user (operator command; announced to every replica).
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// The identity provider's signing keys, as every replica caches them.
    Jwks {
        #[command(subcommand)]
        action: JwksAction,
    },
    /// Database administration (run with the owner's DATABASE_URL).
    Db {
        #[command(subcommand)]
        action: DbAction,
    },
    /// Check the tamper-evident audit trail.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Document retention: purge the stored files of deleted documents.
    Documents {
        #[command(subcommand)]
        action: DocumentsAction,
    },
    /// Document storage (STORAGE_BUCKET) checks.
    Storage {
        #[command(subcommand)]
        action: StorageAction,
    },
    /// Field-level PHI encryption: re-encryption after a key rotation, encrypting old rows.
    Phi {
        #[command(subcommand)]
        action: PhiAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// List applied and pending migrations.
    Status,
    /// Apply pending migrations and exit (e.g. as Railway's pre-deploy command).
    Up,
    /// Create the next migration file, `V<n>__<NAME>.sql` (needs no configuration or database;
    /// rebuild to embed it).
    New {
        /// Lowercase letters, digits and underscores, e.g. `add_patients`.
        name: String,
        /// The migrations folder.
        #[arg(long, default_value = "migrations")]
        dir: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate the environment without starting anything.
    Check,
}

/// Exit code for a bad setting (sysexits' EX_CONFIG).
const EXIT_CONFIG: u8 = 78;

pub async fn run(cli: Cli) -> ExitCode {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Healthcheck { port } => healthcheck(port).await,
        Command::Openapi => {
            print!("{}", crate::router::spec_json());
            ExitCode::SUCCESS
        }
        Command::Config {
            action: ConfigAction::Check,
        } => match load_config() {
            Ok(config) => {
                println!(
                    "configuration ok ({} environment)",
                    config.environment.as_str()
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Migrate {
            action: MigrateAction::New { name, dir },
        } => match new_migration::create(&dir, &name) {
            Ok(path) => {
                println!("{}", path.display());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("haven: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Migrate { action } => match load_operator_config() {
            Ok(config) => {
                telemetry::init(&config.log_level);
                migrate(&config, action).await
            }
            Err(code) => code,
        },
        Command::Tenants { action } => match load_operator_config() {
            Ok(config) => operators::tenants(&config, action).await,
            Err(code) => code,
        },
        Command::Users { action } => match load_operator_config() {
            Ok(config) => users::users(&config, action).await,
            Err(code) => code,
        },
        Command::Jwks { action } => match load_operator_config() {
            Ok(config) => users::jwks(&config, action).await,
            Err(code) => code,
        },
        Command::Db { action } => match load_operator_config() {
            Ok(config) => db::db(&config, action).await,
            Err(code) => code,
        },
        Command::Audit { action } => match load_operator_config() {
            Ok(config) => operators::audit(&config, action).await,
            Err(code) => code,
        },
        Command::Documents { action } => match load_operator_config() {
            Ok(config) => content::documents(&config, action).await,
            Err(code) => code,
        },
        Command::Storage { action } => match load_config() {
            Ok(config) => content::storage_command(&config, action).await,
            Err(code) => code,
        },
        Command::Phi { action } => match load_operator_config() {
            Ok(config) => phi::run(&config, action).await,
            Err(code) => code,
        },
        Command::Serve => {
            let config = match load_config() {
                Ok(config) => config,
                Err(code) => return code,
            };
            telemetry::init(&config.log_level);
            serve(config).await
        }
    }
}

/// Bad settings: one line on stderr per variable, all of them, and exit 78.
fn load_config() -> Result<Config, ExitCode> {
    Config::from_env().map_err(|errors| config_failed(&errors))
}

/// The operator commands read only the database section (and the secret that may hold it).
fn load_operator_config() -> Result<OperatorConfig, ExitCode> {
    OperatorConfig::from_env().map_err(|errors| config_failed(&errors))
}

fn config_failed(errors: &ConfigErrors) -> ExitCode {
    for error in &errors.0 {
        eprintln!("haven: {error}");
    }
    ExitCode::from(EXIT_CONFIG)
}

async fn serve(config: Config) -> ExitCode {
    tracing::info!(
        environment = config.environment.as_str(),
        version = env!("CARGO_PKG_VERSION"),
        "starting"
    );
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(error) => {
            tracing::error!(error_code = error.code(), error = %error, "start-up failed");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error, "server failed");
            ExitCode::FAILURE
        }
    }
}

/// The database URL as `serve` resolves it (so `haven migrate up` works as a Railway
/// pre-deploy command with the URL only in the secret).
pub(crate) async fn database_url(
    config: &OperatorConfig,
) -> Result<secrecy::SecretString, ExitCode> {
    let url = crate::secrets::database_url(config.secrets.as_ref(), &config.database)
        .await
        .map_err(|error| {
            eprintln!("haven: cannot load secrets ({}): {error}", error.code());
            // "Could not run", as opposed to 1 for "ran and found a problem" (audit verify).
            ExitCode::from(2)
        })?;
    url.ok_or_else(|| {
        eprintln!("haven: DATABASE_URL is not set (in the environment or the secret)");
        ExitCode::from(EXIT_CONFIG)
    })
}

async fn migrate(config: &OperatorConfig, action: MigrateAction) -> ExitCode {
    let url = match database_url(config).await {
        Ok(url) => url,
        Err(code) => return code,
    };
    let url = &url;
    // The same budget the pool gets for a new connection: a database that accepts the
    // connection and never answers makes the command fail instead of hang.
    let connect_timeout = config.database.acquire_timeout;
    match action {
        MigrateAction::Status => match haven_db::migrate::status(url, connect_timeout).await {
            Ok(status) => {
                for m in &status.applied {
                    println!(
                        "applied  V{} {} ({})",
                        m.version,
                        m.name,
                        m.applied_on.as_deref().unwrap_or("?")
                    );
                }
                for m in &status.pending {
                    println!("pending  V{} {}", m.version, m.name);
                }
                println!(
                    "{} applied, {} pending",
                    status.applied.len(),
                    status.pending.len()
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("haven: {error}");
                ExitCode::FAILURE
            }
        },
        MigrateAction::Up => match haven_db::migrate::run(url, connect_timeout).await {
            Ok(applied) => {
                println!("{} migration(s) applied", applied.len());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("haven: {error}");
                ExitCode::FAILURE
            }
        },
        // Handled in `run`: it needs neither configuration nor a database.
        MigrateAction::New { .. } => ExitCode::FAILURE,
    }
}

/// Needs no configuration but PORT: Docker runs it inside the container.
async fn healthcheck(port: u16) -> ExitCode {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    {
        Ok(client) => client,
        Err(_) => return ExitCode::FAILURE,
    };
    let url = format!("http://127.0.0.1:{port}/api/v1/health/live");
    match client.get(url).send().await {
        Ok(response) if response.status().is_success() => ExitCode::SUCCESS,
        Ok(response) => {
            eprintln!("haven: liveness answered {}", response.status());
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("haven: liveness endpoint not reachable on port {port}");
            ExitCode::FAILURE
        }
    }
}
