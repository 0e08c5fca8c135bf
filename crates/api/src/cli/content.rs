//! Operator commands on document content: `haven documents purge` (retention), `haven tenants
//! offboard` (every file of a tenant) and `haven storage check` (the bucket's settings).

use std::process::ExitCode;

use clap::Subcommand;
use haven_db::documents::purge::{self, PurgeError};
use haven_db::ids::TenantId;
use haven_db::tenants::TenantStatus;
use haven_storage::{Severity, Storage, object_key, tenant_prefix};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::operators::{EXIT_UNABLE, describe, pool};
use crate::config::{Config, OperatorConfig};

#[derive(Debug, Subcommand)]
pub enum DocumentsAction {
    /// Delete the stored files of documents soft-deleted before DATE and mark them purged,
    /// one audited document at a time. Safe to run on several replicas at once; rerun after a
    /// crash to finish.
    Purge {
        /// RFC 3339 time or a date (YYYY-MM-DD, midnight UTC).
        #[arg(long, value_parser = parse_time)]
        deleted_before: OffsetDateTime,
        /// List what would be purged; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Only this tenant (its external id), e.g. when offboarding it.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum StorageAction {
    /// Check the bucket: reachable, default SSE-KMS with STORAGE_KMS_KEY_ID, public access
    /// blocked, versioning, and CORS allowing PUT and GET from ALLOWED_ORIGINS. Exit 1 when a
    /// check fails.
    Check,
}

fn parse_time(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(time) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(time);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format)
        .map(|date| date.midnight().assume_utc())
        .map_err(|_| "must be an RFC 3339 time or a date (YYYY-MM-DD)".to_owned())
}

/// The configured store, or exit 78 when STORAGE_BUCKET is unset.
async fn storage(settings: Option<&haven_storage::StorageSettings>) -> Result<Storage, ExitCode> {
    match settings {
        Some(settings) => Ok(Storage::new(settings.clone()).await),
        None => {
            eprintln!("haven: STORAGE_BUCKET is not set: there is no document storage to act on");
            Err(ExitCode::from(super::EXIT_CONFIG))
        }
    }
}

pub async fn storage_command(config: &Config, action: StorageAction) -> ExitCode {
    let StorageAction::Check = action;
    let storage = match storage(config.storage.as_ref()).await {
        Ok(storage) => storage,
        Err(code) => return code,
    };
    let findings = storage.check(&config.allowed_origins).await;
    for finding in &findings {
        println!(
            "{:<4} {}: {}",
            finding.severity.label(),
            finding.check,
            finding.message
        );
        if let Some(fix) = &finding.fix {
            println!("     fix: {fix}");
        }
    }
    if findings.iter().any(|f| f.severity == Severity::Error) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

pub async fn documents(config: &OperatorConfig, action: DocumentsAction) -> ExitCode {
    let DocumentsAction::Purge {
        deleted_before,
        dry_run,
        tenant,
    } = action;
    let storage = match storage(config.storage.as_ref()).await {
        Ok(storage) => storage,
        Err(code) => return code,
    };
    let pool = match pool(config).await {
        Ok(pool) => pool,
        Err(code) => return code,
    };
    let tenant_id = match &tenant {
        None => None,
        Some(external_id) => match find_tenant(&pool, external_id).await {
            Ok(tenant) => Some(tenant.id),
            Err(code) => return code,
        },
    };
    let code = if dry_run {
        dry_run_list(&pool, deleted_before, tenant_id).await
    } else {
        purge_all(
            &pool,
            &storage,
            deleted_before,
            tenant_id,
            purge::PURGE_ACTOR,
        )
        .await
    };
    pool.close().await;
    code
}

async fn dry_run_list(
    pool: &haven_db::PgPool,
    before: OffsetDateTime,
    tenant: Option<TenantId>,
) -> ExitCode {
    match purge::admin_list_purgeable(pool, before, tenant, i64::MAX).await {
        Ok(rows) => {
            for row in &rows {
                println!("would purge\t{}\t{}", row.tenant_id, row.id);
            }
            println!("{} document(s) would be purged (dry run)", rows.len());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("haven: database error: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

async fn purge_all(
    pool: &haven_db::PgPool,
    storage: &Storage,
    before: OffsetDateTime,
    tenant: Option<TenantId>,
    actor: &str,
) -> ExitCode {
    let mut purged = 0u64;
    loop {
        let step = purge::admin_purge_next(pool, before, tenant, actor, |doc| {
            let key = object_key(doc.tenant_id.as_uuid(), doc.id.as_uuid());
            async move { storage.delete(&key).await }
        })
        .await;
        match step {
            Ok(Some(doc)) => {
                purged += 1;
                println!("purged\t{}\t{}", doc.tenant_id, doc.id);
            }
            Ok(None) => break,
            Err(PurgeError::Delete(error)) => {
                eprintln!("haven: {error}; {purged} purged so far: rerun to continue");
                return ExitCode::FAILURE;
            }
            Err(PurgeError::Database(error)) => {
                eprintln!(
                    "haven: database error: {}; {purged} purged so far: rerun to continue",
                    describe(&error)
                );
                return ExitCode::FAILURE;
            }
        }
    }
    println!("{purged} document(s) purged");
    ExitCode::SUCCESS
}

/// The tenant with this external id, or exit 2 saying why not.
async fn find_tenant(
    pool: &haven_db::PgPool,
    external_id: &str,
) -> Result<haven_db::tenants::Tenant, ExitCode> {
    match haven_db::tenants::admin_list(pool).await {
        Ok(all) => all
            .into_iter()
            .find(|t| t.external_id == external_id)
            .ok_or_else(|| {
                eprintln!("haven: no tenant has external id {external_id:?}");
                ExitCode::from(EXIT_UNABLE)
            }),
        Err(error) => {
            eprintln!("haven: database error: {}", describe(&error));
            Err(ExitCode::from(EXIT_UNABLE))
        }
    }
}

/// `haven tenants offboard`: a suspended tenant's documents are all deleted and purged (each
/// audited in its trail), then anything still under its prefix is swept (an upload that
/// landed after its document was purged). Every step is safe to rerun.
pub async fn offboard(
    config: &OperatorConfig,
    pool: &haven_db::PgPool,
    external_id: &str,
) -> ExitCode {
    let storage = match storage(config.storage.as_ref()).await {
        Ok(storage) => storage,
        Err(code) => return code,
    };
    let tenant = match find_tenant(pool, external_id).await {
        Ok(tenant) => tenant,
        Err(code) => return code,
    };
    if tenant.status != TenantStatus::Suspended {
        eprintln!(
            "haven: tenant {external_id:?} is active: suspend it first (`haven tenants suspend`), \
             so its users can neither read nor upload while its files are deleted"
        );
        return ExitCode::from(EXIT_UNABLE);
    }
    match purge::admin_delete_all(pool, tenant.id).await {
        Ok(count) => println!("{count} live document(s) deleted"),
        Err(error) => {
            eprintln!("haven: database error: {}", describe(&error));
            return ExitCode::FAILURE;
        }
    }
    let code = purge_all(
        pool,
        &storage,
        END_OF_TIME,
        Some(tenant.id),
        purge::OFFBOARD_ACTOR,
    )
    .await;
    if code != ExitCode::SUCCESS {
        return code;
    }
    match storage
        .delete_prefix(&tenant_prefix(tenant.id.as_uuid()))
        .await
    {
        Ok(swept) => {
            println!("{swept} stray object(s) swept; tenant {external_id:?} holds no stored files");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("haven: {error}: rerun to finish");
            ExitCode::FAILURE
        }
    }
}

/// Every deletion time is before this.
const END_OF_TIME: OffsetDateTime = time::macros::datetime!(9999-12-31 0:00 UTC);
