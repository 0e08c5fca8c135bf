//! Operator commands on the database: `haven tenants ...` and `haven audit verify`, and the
//! development tenant created at start.

use std::collections::HashMap;
use std::process::ExitCode;

use clap::Subcommand;
use haven_db::ids::TenantId;
use haven_db::tenants::{self, Tenant, TenantStatus};
use haven_db::{PgPool, PoolSettings};

use crate::config::OperatorConfig;

#[derive(Debug, Subcommand)]
pub enum TenantsAction {
    /// Create a tenant: its users' tokens carry EXTERNAL_ID in the tenant claim.
    Create {
        /// The tenant claim's value, e.g. `org-456` (letters, digits and . _ : @ / -).
        #[arg(long)]
        external_id: String,
        /// A display name (1 to 200 characters).
        #[arg(long)]
        name: String,
    },
    /// List every tenant.
    List,
    /// Suspend a tenant: its users get 403 TENANT_002 (within a second on every replica).
    Suspend {
        /// The tenant's external id.
        external_id: String,
    },
    /// Activate a suspended tenant (refused once it was shredded).
    Activate {
        /// The tenant's external id.
        external_id: String,
    },
    /// Offboard a suspended tenant: soft-delete all its documents, delete every stored file
    /// (each audited as `document.purge`), then sweep whatever is left under its prefix in the
    /// bucket. Needs STORAGE_BUCKET. Rerun after a failure to finish.
    Offboard {
        /// The tenant's external id.
        external_id: String,
    },
    /// Make a new PHI encryption key version the one new writes use (`haven phi reencrypt`
    /// then moves older rows onto it).
    RotateKey {
        /// The tenant's external id.
        external_id: String,
    },
    /// Crypto-shred a suspended tenant: destroy its PHI keys on every replica, for good.
    Shred {
        /// The tenant's external id.
        external_id: String,
        /// The same external id again, to confirm.
        #[arg(long)]
        confirm: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Recompute the audit hash chains from each tenant's last verified seal (or fully). Exit 0
    /// when intact, 1 with the first broken link when not, 2 when the check could not run.
    Verify {
        /// Only this tenant (its external id); every tenant when absent.
        #[arg(long)]
        tenant: Option<String>,
        /// Re-check every chain from its start, not only what was sealed since the last
        /// verification found it intact.
        #[arg(long)]
        full: bool,
    },
    /// Seal every pending audit event now and exit (the service does this every second; safe
    /// beside running replicas). Exit 0, or 2 when sealing could not run.
    Seal,
}

/// Could not run at all (as opposed to "ran and found a problem").
pub(super) const EXIT_UNABLE: u8 = 2;

/// A small pool for one command, from the same DATABASE_URL the service uses.
pub(super) async fn pool(config: &OperatorConfig) -> Result<PgPool, ExitCode> {
    let url = super::database_url(config).await?;
    let url = &url;
    let settings = PoolSettings {
        max_connections: 2,
        application_name: "haven-cli".to_owned(),
        ..PoolSettings::default()
    };
    haven_db::connect_pool(url, &settings).map_err(|error| {
        eprintln!("haven: {error}");
        ExitCode::from(super::EXIT_CONFIG)
    })
}

fn status(tenant: &Tenant) -> &'static str {
    match tenant.status {
        TenantStatus::Active => "active",
        TenantStatus::Suspended => "suspended",
    }
}

fn print_tenant(tenant: &Tenant) {
    println!(
        "{}\t{}\t{}\t{}",
        tenant.id,
        tenant.external_id,
        status(tenant),
        tenant.name
    );
}

pub(super) fn failed(error: &sqlx::Error) -> ExitCode {
    eprintln!("haven: database error: {}", describe(error));
    ExitCode::FAILURE
}

/// The database's own message (never the URL); a missing table means unmigrated.
pub(super) fn describe(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("42P01") => {
            "the schema is missing: run `haven migrate up` first".to_owned()
        }
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    }
}

pub async fn tenants(config: &OperatorConfig, action: TenantsAction) -> ExitCode {
    let pool = match pool(config).await {
        Ok(pool) => pool,
        Err(code) => return code,
    };
    let code = match action {
        TenantsAction::Create { external_id, name } => create(&pool, &external_id, &name).await,
        TenantsAction::List => match tenants::admin_list(&pool).await {
            Ok(list) => {
                println!("id\texternal_id\tstatus\tname");
                list.iter().for_each(print_tenant);
                ExitCode::SUCCESS
            }
            Err(error) => failed(&error),
        },
        TenantsAction::Suspend { external_id } => changed(
            tenants::admin_suspend(&pool, &external_id).await,
            &external_id,
        ),
        TenantsAction::Activate { external_id } => {
            match super::phi::refuse_if_shredded(&pool, &external_id).await {
                Err(code) => code,
                Ok(()) => changed(
                    tenants::admin_activate(&pool, &external_id).await,
                    &external_id,
                ),
            }
        }
        TenantsAction::RotateKey { external_id } => {
            super::phi::rotate_key(config, &external_id).await
        }
        TenantsAction::Shred {
            external_id,
            confirm,
        } => super::phi::shred(config, &external_id, &confirm).await,
        TenantsAction::Offboard { external_id } => {
            super::content::offboard(config, &pool, &external_id).await
        }
    };
    pool.close().await;
    code
}

async fn create(pool: &PgPool, external_id: &str, name: &str) -> ExitCode {
    if !crate::auth::is_valid_tenant_id(external_id) {
        eprintln!(
            "haven: --external-id must be 1 to 128 characters of letters, digits and . _ : @ / -"
        );
        return ExitCode::from(EXIT_UNABLE);
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        eprintln!("haven: --name must be 1 to 200 characters");
        return ExitCode::from(EXIT_UNABLE);
    }
    match tenants::admin_create(pool, external_id, name).await {
        Ok(tenant) => {
            print_tenant(&tenant);
            ExitCode::SUCCESS
        }
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23505") => {
            eprintln!("haven: a tenant with external id {external_id:?} already exists");
            ExitCode::FAILURE
        }
        Err(error) => failed(&error),
    }
}

fn changed(result: Result<Option<Tenant>, sqlx::Error>, external_id: &str) -> ExitCode {
    match result {
        Ok(Some(tenant)) => {
            print_tenant(&tenant);
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("haven: no tenant has external id {external_id:?}");
            ExitCode::FAILURE
        }
        Err(error) => failed(&error),
    }
}

pub async fn audit(config: &OperatorConfig, action: AuditAction) -> ExitCode {
    let pool = match pool(config).await {
        Ok(pool) => pool,
        Err(code) => return code,
    };
    let code = match action {
        AuditAction::Verify { tenant, full } => verify(&pool, tenant.as_deref(), full).await,
        AuditAction::Seal => seal(&pool).await,
    };
    pool.close().await;
    code
}

async fn seal(pool: &PgPool) -> ExitCode {
    match haven_db::audit_chain::seal_pending(pool, haven_db::audit_chain::SEAL_BATCH).await {
        Ok(sealed) => {
            println!("audit events sealed: {sealed}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("haven: cannot seal: {}", describe(&error));
            ExitCode::from(EXIT_UNABLE)
        }
    }
}

async fn verify(pool: &PgPool, external_id: Option<&str>, full: bool) -> ExitCode {
    let unable = |error: &sqlx::Error| {
        eprintln!("haven: cannot verify: {}", describe(error));
        ExitCode::from(EXIT_UNABLE)
    };
    let all = match tenants::admin_list(pool).await {
        Ok(all) => all,
        Err(error) => return unable(&error),
    };
    let names: HashMap<TenantId, String> =
        all.iter().map(|t| (t.id, t.external_id.clone())).collect();
    let only = match external_id {
        None => None,
        Some(wanted) => match all.iter().find(|t| t.external_id == wanted) {
            Some(tenant) => Some(tenant.id),
            None => {
                eprintln!("haven: no tenant has external id {wanted:?}");
                return ExitCode::from(EXIT_UNABLE);
            }
        },
    };
    let options = haven_db::audit_chain::VerifyOptions { full, wait: true };
    let report = match haven_db::audit_chain::verify_with(pool, only, options).await {
        Ok(report) => report,
        Err(error) => return unable(&error),
    };
    println!(
        "tenants checked: {}, events checked: {}, events not sealed yet: {}",
        report.tenants_checked, report.events_checked, report.events_unsealed
    );
    if report.is_intact() {
        println!("audit chain intact");
        return ExitCode::SUCCESS;
    }
    for link in &report.broken {
        let tenant = names
            .get(&link.tenant_id)
            .map_or_else(|| link.tenant_id.to_string(), Clone::clone);
        let event = link
            .event_id
            .map_or_else(|| "-".to_owned(), |id| id.to_string());
        let problem = serde_json::to_value(link.problem)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        println!(
            "BROKEN tenant {tenant} at seq {} event {event}: {problem}",
            link.seq
        );
    }
    ExitCode::FAILURE
}
