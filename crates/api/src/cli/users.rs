//! Operator commands on users and keys: `haven users disable|enable`, `haven jwks refresh`.
//! Each change is announced to every replica (NOTIFY) in the transaction that makes it.

use std::process::ExitCode;

use clap::Subcommand;
use haven_db::PgPool;
use haven_db::audit::{AuditOutcome, NewAuditEvent};
use haven_db::invalidation::Invalidation;
use haven_db::tenant::TenantTx;

use super::operators::{EXIT_UNABLE, describe, failed, pool};
use crate::config::OperatorConfig;

/// The audit trail's actor for changes made from the command line.
pub const OPERATOR_ACTOR: &str = "operator:haven-cli";

#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// Disable a user: every replica refuses its requests with 403 USER_001 within a second.
    /// A subject never seen yet is recorded, disabled, so its first request is refused too.
    Disable {
        /// The tenant's external id.
        #[arg(long)]
        tenant: String,
        /// The token's `sub`.
        #[arg(long)]
        subject: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// The tenant's external id.
        #[arg(long)]
        tenant: String,
        /// The token's `sub`.
        #[arg(long)]
        subject: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum JwksAction {
    /// Make every replica refetch the identity provider's signing keys now (after removing a
    /// key at the provider): a removed key stops being accepted within one JWKS fetch.
    Refresh,
}

pub async fn users(config: &OperatorConfig, action: UsersAction) -> ExitCode {
    let pool = match pool(config).await {
        Ok(pool) => pool,
        Err(code) => return code,
    };
    let (tenant, subject, disabled) = match &action {
        UsersAction::Disable { tenant, subject } => (tenant, subject, true),
        UsersAction::Enable { tenant, subject } => (tenant, subject, false),
    };
    let code = set_disabled(&pool, tenant, subject, disabled).await;
    pool.close().await;
    code
}

async fn set_disabled(pool: &PgPool, external_id: &str, subject: &str, disabled: bool) -> ExitCode {
    if subject.is_empty() || subject.chars().count() > 255 {
        eprintln!("haven: --subject must be 1 to 255 characters");
        return ExitCode::from(EXIT_UNABLE);
    }
    let tenant = match haven_db::tenants::lookup_by_external_id_unscoped(pool, external_id).await {
        Ok(Some(tenant)) => tenant,
        Ok(None) => {
            eprintln!("haven: no tenant has external id {external_id:?}");
            return ExitCode::FAILURE;
        }
        Err(error) => return failed(&error),
    };
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    let changed = async {
        let mut tx = TenantTx::begin(pool, tenant.id).await?;
        let user = haven_db::users::set_disabled_by_subject(&mut tx, subject, disabled).await?;
        let resource_id = user.id.to_string();
        let event = NewAuditEvent {
            tenant_id: tenant.id,
            actor_user_id: None,
            actor_subject: Some(OPERATOR_ACTOR),
            action,
            resource_type: "user",
            resource_id: Some(&resource_id),
            outcome: AuditOutcome::Success,
            request_id: None,
            client_request_id: None,
            client_ip: None,
            user_agent: None,
            changed_fields: Some(&["disabled_at"]),
            emergency: false,
            returned_ids: None,
            error_code: None,
        };
        tx.record(&event).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(user)
    }
    .await;
    match changed {
        Ok(user) => {
            let state = if user.disabled_at.is_some() {
                "disabled"
            } else {
                "enabled"
            };
            println!("{}\t{}\t{}\t{state}", user.id, external_id, user.subject);
            ExitCode::SUCCESS
        }
        Err(error) => failed(&error),
    }
}

pub async fn jwks(config: &OperatorConfig, action: JwksAction) -> ExitCode {
    let JwksAction::Refresh = action;
    let pool = match pool(config).await {
        Ok(pool) => pool,
        Err(code) => return code,
    };
    let sent = async {
        let mut conn = pool.acquire().await?;
        haven_db::invalidation::notify(&mut conn, &Invalidation::SigningKeys).await
    }
    .await;
    pool.close().await;
    match sent {
        Ok(()) => {
            println!("signing-key refresh announced to every replica");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("haven: cannot announce the refresh: {}", describe(&error));
            ExitCode::from(EXIT_UNABLE)
        }
    }
}
