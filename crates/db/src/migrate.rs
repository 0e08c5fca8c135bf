//! Embedded refinery migrations, applied over a sqlx connection under a PostgreSQL advisory lock.
//!
//! refinery has no sqlx driver and no lock of its own. Driving it through sqlx keeps one TLS
//! stack and libpq's `sslmode` meaning for both the pool and the migrator; the session advisory
//! lock makes replicas that start together apply each migration exactly once: the first takes
//! the lock and migrates, the others wait, then find nothing pending.

use std::time::Duration;

use refinery::{Migration, Runner};
use refinery_core::traits::r#async::{AsyncMigrate, AsyncQuery, AsyncTransaction};
use secrecy::SecretString;
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::pool::{InvalidDatabaseUrl, PoolSettings, connect_options};

mod embedded {
    refinery::embed_migrations!("../../migrations");
}

/// Key of the session advisory lock that serializes migrations across replicas ("HAVENMIG").
const MIGRATION_LOCK_KEY: i64 = 0x4841_5645_4e4d_4947;
/// refinery's own bookkeeping table (its default name, kept so its tooling still works).
pub const HISTORY_TABLE: &str = "refinery_schema_history";

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(transparent)]
    InvalidUrl(#[from] InvalidDatabaseUrl),
    #[error("cannot connect to the database to migrate")]
    Connect(#[source] sqlx::Error),
    /// The server accepted nothing, or accepted the connection and never answered (a firewall
    /// dropping packets, a stuck proxy): without this bound `haven migrate` would hang.
    #[error("cannot connect to the database to migrate: no answer within {} s", .0.as_secs())]
    ConnectTimeout(Duration),
    #[error("cannot take the migration lock")]
    Lock(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Refinery(#[source] refinery::Error),
    #[error("cannot read the migration history")]
    History(#[source] sqlx::Error),
}

/// One migration as the `migrate status` command reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MigrationInfo {
    pub version: i32,
    pub name: String,
    /// When it was applied (RFC 3339), or `None` while pending.
    pub applied_on: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationStatus {
    pub applied: Vec<MigrationInfo>,
    pub pending: Vec<MigrationInfo>,
}

fn runner() -> Runner {
    // A migration edited after it was applied is a mistake to stop on, not to paper over.
    let mut runner = embedded::migrations::runner().set_abort_divergent(true);
    runner.set_migration_table_name(HISTORY_TABLE);
    runner
}

/// The highest migration version compiled into this binary: the schema readiness expects.
pub fn expected_version() -> i32 {
    runner()
        .get_migrations()
        .iter()
        .map(Migration::version)
        .max()
        .unwrap_or(0)
}

/// The migrator's own connection: no statement timeout, because an index build may take a
/// while and a replica waiting on the lock must not give up. Connecting (TCP, TLS, startup and
/// authentication) is bounded by `connect_timeout`, the same budget the pool gets for a new
/// connection: sqlx has no connect timeout of its own.
async fn connect(
    url: &SecretString,
    connect_timeout: Duration,
) -> Result<PgConnection, MigrationError> {
    let options: PgConnectOptions = connect_options(url, &PoolSettings::default())?
        .application_name("haven-migrate")
        .options([("statement_timeout", "0")]);
    match tokio::time::timeout(connect_timeout, PgConnection::connect_with(&options)).await {
        Ok(connected) => connected.map_err(MigrationError::Connect),
        Err(_) => Err(MigrationError::ConnectTimeout(connect_timeout)),
    }
}

/// Applies every pending migration and returns the ones applied by this call. Connecting may
/// take at most `connect_timeout`; waiting for another replica's migration lock is not bounded.
pub async fn run(
    url: &SecretString,
    connect_timeout: Duration,
) -> Result<Vec<MigrationInfo>, MigrationError> {
    run_until(url, connect_timeout, None).await
}

/// Like [`run`], but stops after migration `version`: for testing a migration over data that
/// the schema before it wrote.
pub async fn run_up_to(
    url: &SecretString,
    connect_timeout: Duration,
    version: i32,
) -> Result<Vec<MigrationInfo>, MigrationError> {
    run_until(url, connect_timeout, Some(version)).await
}

#[tracing::instrument(skip_all)]
async fn run_until(
    url: &SecretString,
    connect_timeout: Duration,
    version: Option<i32>,
) -> Result<Vec<MigrationInfo>, MigrationError> {
    let mut conn = connect(url, connect_timeout).await?;
    sqlx::query("select pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut conn)
        .await
        .map_err(MigrationError::Lock)?;
    let (result, mut conn) = match schema_is_ahead(&mut conn).await {
        // A rolled-back binary on a newer schema: everything it knows is applied, unchanged.
        Ok(true) => (Ok(refinery::Report::new(Vec::new())), conn),
        Ok(false) => {
            let mut driver = Driver(conn);
            let runner = match version {
                Some(version) => runner().set_target(refinery::Target::Version(version)),
                None => runner(),
            };
            let result = runner.run_async(&mut driver).await;
            (result, driver.0)
        }
        Err(error) => {
            let _ = conn.close().await;
            return Err(MigrationError::History(error));
        }
    };
    // Closing the session would release the lock too; unlocking says so explicitly.
    let unlock = sqlx::query("select pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    let report = result.map_err(MigrationError::Refinery)?;
    unlock.map_err(MigrationError::Lock)?;
    let applied: Vec<MigrationInfo> = report
        .applied_migrations()
        .iter()
        .map(|m| MigrationInfo {
            version: m.version(),
            name: m.name().to_owned(),
            applied_on: m.applied_on().and_then(|t| t.format(&Rfc3339).ok()),
        })
        .collect();
    for m in &applied {
        tracing::info!(version = m.version, name = %m.name, "migration applied");
    }
    Ok(applied)
}

/// True when every migration of this binary is applied with the same checksum and the database
/// also holds newer ones: the binary is older than the schema (a rollback across a release that
/// added migrations). Then nothing is applied and start-up goes on; forward-compatible
/// (expand/contract) migrations are what make that safe. Any other mismatch is left to refinery,
/// which stops on it.
async fn schema_is_ahead(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    let history_exists: bool = sqlx::query_scalar("select to_regclass($1) is not null")
        .bind(HISTORY_TABLE)
        .fetch_one(&mut *conn)
        .await?;
    if !history_exists {
        return Ok(false);
    }
    let applied = read_history(conn).await?;
    let runner = runner();
    let embedded = runner.get_migrations();
    let all_known_applied = embedded.iter().all(|m| {
        applied
            .iter()
            .any(|a| a.version() == m.version() && a.checksum() == m.checksum())
    });
    let newer: Vec<&Migration> = applied
        .iter()
        .filter(|a| !embedded.iter().any(|m| m.version() == a.version()))
        .collect();
    let ahead = all_known_applied
        && !newer.is_empty()
        && newer.iter().all(|a| a.version() > expected_version());
    if ahead {
        tracing::warn!(
            binary_version = expected_version(),
            newest_applied = newer.iter().map(|m| m.version()).max().unwrap_or_default(),
            "the schema is ahead of this binary (a rollback?): nothing to apply"
        );
    }
    Ok(ahead)
}

/// Applied and pending migrations, without changing anything.
pub async fn status(
    url: &SecretString,
    connect_timeout: Duration,
) -> Result<MigrationStatus, MigrationError> {
    let mut conn = connect(url, connect_timeout).await?;
    let history_exists: bool = sqlx::query_scalar("select to_regclass($1) is not null")
        .bind(HISTORY_TABLE)
        .fetch_one(&mut conn)
        .await
        .map_err(MigrationError::History)?;
    let applied = if history_exists {
        read_history(&mut conn)
            .await
            .map_err(MigrationError::History)?
    } else {
        Vec::new()
    };
    let _ = conn.close().await;
    let applied: Vec<MigrationInfo> = applied
        .iter()
        .map(|m| MigrationInfo {
            version: m.version(),
            name: m.name().to_owned(),
            applied_on: m.applied_on().and_then(|t| t.format(&Rfc3339).ok()),
        })
        .collect();
    let mut pending: Vec<MigrationInfo> = runner()
        .get_migrations()
        .iter()
        .filter(|m| !applied.iter().any(|a| a.version == m.version()))
        .map(|m| MigrationInfo {
            version: m.version(),
            name: m.name().to_owned(),
            applied_on: None,
        })
        .collect();
    // In the order they would be applied (refinery lists them by file name: V10 before V2).
    pending.sort_by_key(|m| m.version);
    Ok(MigrationStatus { applied, pending })
}

/// The applied schema version, as readiness checks it (0 when nothing is applied yet).
pub async fn applied_version(conn: &mut PgConnection) -> Result<i32, sqlx::Error> {
    // to_regclass avoids an error (and a logged server error) on a database never migrated.
    let version: Option<i32> = sqlx::query_scalar(
        "select case when to_regclass('refinery_schema_history') is null then 0 \
         else (select coalesce(max(version), 0) from refinery_schema_history) end",
    )
    .fetch_one(conn)
    .await?;
    Ok(version.unwrap_or(0))
}

async fn read_history(conn: &mut PgConnection) -> Result<Vec<Migration>, sqlx::Error> {
    let rows = sqlx::raw_sql(
        "select version, name, applied_on, checksum from refinery_schema_history order by version",
    )
    .fetch_all(conn)
    .await?;
    rows.iter().map(history_row).collect()
}

fn history_row(row: &sqlx::postgres::PgRow) -> Result<Migration, sqlx::Error> {
    let version: i32 = row.try_get(0)?;
    let name: String = row.try_get(1)?;
    let applied_on: String = row.try_get(2)?;
    let checksum: String = row.try_get(3)?;
    let applied_on = OffsetDateTime::parse(&applied_on, &Rfc3339)
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let checksum = checksum
        .parse::<u64>()
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Migration::applied(version, name, applied_on, checksum))
}

/// refinery's async driver traits over one sqlx connection.
struct Driver(PgConnection);

impl AsyncTransaction for Driver {
    type Error = sqlx::Error;

    async fn execute<'a, T: Iterator<Item = &'a str> + Send + 'a>(
        &'a mut self,
        queries: T,
    ) -> Result<usize, Self::Error> {
        let mut tx = self.0.begin().await?;
        let mut count = 0;
        for query in queries {
            // The simple protocol: a migration file may hold many statements. The text is
            // compiled into the binary (or refinery's own bookkeeping), never user input.
            sqlx::raw_sql(AssertSqlSafe(query.to_owned()))
                .execute(&mut *tx)
                .await?;
            count += 1;
        }
        tx.commit().await?;
        Ok(count)
    }
}

impl AsyncQuery<Vec<Migration>> for Driver {
    async fn query<'a>(&'a mut self, query: &'a str) -> Result<Vec<Migration>, Self::Error> {
        let rows = sqlx::raw_sql(AssertSqlSafe(query.to_owned()))
            .fetch_all(&mut self.0)
            .await?;
        rows.iter().map(history_row).collect()
    }
}

impl AsyncMigrate for Driver {}
