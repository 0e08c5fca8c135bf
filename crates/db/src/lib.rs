//! Database access for Haven: the connection pool, the embedded migrations and (later) the
//! tenant-scoped transaction handle. No HTTP types live here.
#![forbid(unsafe_code)]

pub mod migrate;
pub mod pool;

pub use migrate::{MigrationError, MigrationStatus};
pub use pool::{PoolSettings, connect_pool};
pub use sqlx::PgPool;
