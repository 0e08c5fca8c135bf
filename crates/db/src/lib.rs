//! Database access for Haven: the connection pool, the embedded migrations, the tenant-scoped
//! transaction handle ([`tenant::TenantTx`]) and small query functions. No HTTP types live here.
#![forbid(unsafe_code)]

pub mod audit;
pub mod audit_chain;
pub mod audit_event;
pub mod documents;
pub mod fields;
pub mod idempotency;
pub mod ids;
pub mod invalidation;
pub mod migrate;
pub mod page;
mod patch;
pub mod patients;
pub mod pool;
pub mod resource;
pub mod runtime_login;
pub mod tenant;
pub mod tenant_keys;
pub mod tenants;
mod unscoped;
pub mod users;

pub use migrate::{MigrationError, MigrationStatus};
pub use pool::{PoolSettings, connect_pool};
pub use sqlx::PgPool;
