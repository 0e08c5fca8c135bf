//! PHI key operations: `haven tenants rotate-key|shred` and `haven phi reencrypt|encrypt-existing`.

use std::process::ExitCode;

use clap::Subcommand;
use haven_db::PgPool;
use haven_db::tenant_keys::{self, KeyRefusal};
use haven_db::tenants::{self, Tenant, TenantStatus};
use haven_phi::reencrypt::{self, PHI_COLUMNS, Pass, TenantReport};
use haven_phi::{Phi, RotateOutcome};

use super::operators::{EXIT_UNABLE, describe, pool};
use crate::config::OperatorConfig;

#[derive(Debug, Subcommand)]
pub enum PhiAction {
    /// Re-encrypt rows still on an older key version (after `tenants rotate-key`), in batches,
    /// online; then retire versions nothing uses. Safe to run on several hosts at once and to
    /// rerun after a crash.
    Reencrypt {
        /// Only this tenant (its external id); every tenant when absent.
        #[arg(long)]
        tenant: Option<String>,
        /// Rows per transaction.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch_size: u32,
    },
    /// Encrypt values stored before encryption was turned on (same engine, same guarantees).
    EncryptExisting {
        /// Only this tenant (its external id); every tenant when absent.
        #[arg(long)]
        tenant: Option<String>,
        /// Rows per transaction.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch_size: u32,
    },
}

/// The configured `Phi`, or a message why there is none (PHI_ENCRYPTION off, KMS set-up).
async fn phi(config: &OperatorConfig) -> Result<Phi, ExitCode> {
    let secrets = crate::secrets::load_for_operator(config.secrets.as_ref(), &config.database)
        .await
        .map_err(|error| {
            eprintln!("haven: cannot load secrets ({}): {error}", error.code());
            ExitCode::from(EXIT_UNABLE)
        })?;
    let secret_master_key = secrets.current().extra.get("PHI_LOCAL_MASTER_KEY").cloned();
    match Phi::from_settings(&config.phi, secret_master_key.as_ref()).await {
        Ok(Some(phi)) => Ok(phi),
        Ok(None) => {
            eprintln!("haven: PHI_ENCRYPTION is off: set it to kms (or local in development)");
            Err(ExitCode::from(EXIT_UNABLE))
        }
        Err(error) => {
            eprintln!("haven: {error}");
            Err(ExitCode::from(EXIT_UNABLE))
        }
    }
}

async fn find(pool: &PgPool, external_id: &str) -> Result<Tenant, ExitCode> {
    match tenants::admin_list(pool).await {
        Ok(all) => all
            .into_iter()
            .find(|t| t.external_id == external_id)
            .ok_or_else(|| {
                eprintln!("haven: no tenant has external id {external_id:?}");
                ExitCode::FAILURE
            }),
        Err(error) => {
            eprintln!("haven: database error: {}", describe(&error));
            Err(ExitCode::from(EXIT_UNABLE))
        }
    }
}

/// `haven tenants rotate-key ID`.
pub async fn rotate_key(config: &OperatorConfig, external_id: &str) -> ExitCode {
    let (pool, phi) = match (pool(config).await, phi(config).await) {
        (Ok(pool), Ok(phi)) => (pool, phi),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let code = match find(&pool, external_id).await {
        Err(code) => code,
        Ok(tenant) => match phi.rotate(&pool, tenant.id).await {
            Ok(RotateOutcome::Rotated { version }) => {
                println!(
                    "tenant {external_id}: key version {version} is active for new writes; run \
                     `haven phi reencrypt --tenant {external_id}` to move older rows onto it"
                );
                ExitCode::SUCCESS
            }
            Ok(RotateOutcome::Shredded) => {
                eprintln!("haven: tenant {external_id:?} was crypto-shredded; it gets no new keys");
                ExitCode::FAILURE
            }
            Ok(RotateOutcome::NoTenant) => ExitCode::FAILURE,
            Err(error) => {
                eprintln!("haven: cannot rotate: {error}");
                ExitCode::from(EXIT_UNABLE)
            }
        },
    };
    pool.close().await;
    code
}

/// `haven tenants shred ID --confirm ID`: needs no key service (it only erases).
pub async fn shred(config: &OperatorConfig, external_id: &str, confirm: &str) -> ExitCode {
    if confirm != external_id {
        eprintln!("haven: --confirm must repeat the tenant's external id exactly");
        return ExitCode::from(EXIT_UNABLE);
    }
    let pool = match pool(config).await {
        Ok(pool) => pool,
        Err(code) => return code,
    };
    let code = match find(&pool, external_id).await {
        Err(code) => code,
        Ok(tenant) if tenant.status != TenantStatus::Suspended => {
            eprintln!("haven: suspend tenant {external_id:?} first (`haven tenants suspend`)");
            ExitCode::FAILURE
        }
        Ok(tenant) => match tenant_keys::admin_shred(&pool, tenant.id).await {
            Ok(Ok(destroyed)) => {
                println!(
                    "tenant {external_id} ({}): {destroyed} key version(s) destroyed; its PHI \
                     fields can no longer be decrypted. Audit event tenant.keys_shredded written. \
                     For backups taken earlier, deny kms:Decrypt for encryption context \
                     haven:tenant_id={} in the KMS key policy (docs/OPERATIONS.md).",
                    tenant.id, tenant.id
                );
                ExitCode::SUCCESS
            }
            Ok(Err(KeyRefusal::Shredded)) => {
                eprintln!("haven: tenant {external_id:?} was already shredded");
                ExitCode::FAILURE
            }
            Ok(Err(_)) => {
                eprintln!("haven: suspend tenant {external_id:?} first (`haven tenants suspend`)");
                ExitCode::FAILURE
            }
            Err(error) => {
                eprintln!("haven: database error: {}", describe(&error));
                ExitCode::from(EXIT_UNABLE)
            }
        },
    };
    pool.close().await;
    code
}

/// Refuses to activate a crypto-shredded tenant (its data is gone for good).
pub async fn refuse_if_shredded(pool: &PgPool, external_id: &str) -> Result<(), ExitCode> {
    let Ok(tenant) = find(pool, external_id).await else {
        return Ok(());
    };
    match tenant_keys::admin_list(pool, tenant.id).await {
        Ok(rows) if rows.iter().any(|r| r.state == "shredded") => {
            eprintln!("haven: tenant {external_id:?} was crypto-shredded and cannot be activated");
            Err(ExitCode::FAILURE)
        }
        _ => Ok(()),
    }
}

pub async fn run(config: &OperatorConfig, action: PhiAction) -> ExitCode {
    let (pass, tenant, batch_size) = match action {
        PhiAction::Reencrypt { tenant, batch_size } => (Pass::Reencrypt, tenant, batch_size),
        PhiAction::EncryptExisting { tenant, batch_size } => {
            (Pass::EncryptExisting, tenant, batch_size)
        }
    };
    let (pool, phi) = match (pool(config).await, phi(config).await) {
        (Ok(pool), Ok(phi)) => (pool, phi),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let code = run_pass(&pool, &phi, pass, tenant.as_deref(), batch_size).await;
    pool.close().await;
    code
}

async fn run_pass(
    pool: &PgPool,
    phi: &Phi,
    pass: Pass,
    only: Option<&str>,
    batch_size: u32,
) -> ExitCode {
    let all = match tenants::admin_list(pool).await {
        Ok(all) => all,
        Err(error) => {
            eprintln!("haven: database error: {}", describe(&error));
            return ExitCode::from(EXIT_UNABLE);
        }
    };
    let chosen: Vec<&Tenant> = all
        .iter()
        .filter(|t| only.is_none_or(|wanted| t.external_id == wanted))
        .collect();
    if let (Some(wanted), true) = (only, chosen.is_empty()) {
        eprintln!("haven: no tenant has external id {wanted:?}");
        return ExitCode::FAILURE;
    }
    let ids: Vec<_> = chosen.iter().map(|t| t.id).collect();
    let name = |id| {
        all.iter()
            .find(|t| t.id == id)
            .map_or_else(|| id.to_string(), |t| t.external_id.clone())
    };
    let result = reencrypt::run(phi, pool, PHI_COLUMNS, pass, &ids, batch_size, |p| {
        println!(
            "tenant {} {}: {}/{} rows",
            name(p.tenant),
            p.table,
            p.done,
            p.total
        );
    })
    .await;
    match result {
        Ok(reports) => {
            reports.iter().for_each(|r| print_report(r, &name));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("haven: stopped: {error} (rerun to continue where it stopped)");
            ExitCode::FAILURE
        }
    }
}

fn print_report(report: &TenantReport, name: &impl Fn(haven_db::ids::TenantId) -> String) {
    let tenant = report.tenant.map(name).unwrap_or_default();
    if report.shredded {
        println!("tenant {tenant}: shredded, skipped");
        return;
    }
    println!(
        "tenant {tenant}: {} rows rewritten, {} rows still on old versions, retired {:?}, \
         waiting for the cache TTL {:?}",
        report.rows_rewritten, report.rows_remaining, report.retired, report.in_grace
    );
}
