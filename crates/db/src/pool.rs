//! The sqlx pool: bounded connect and acquire times, server-side timeouts on every connection.

use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

/// A pooled connection idle for less than this is handed out without a ping: sqlx pinged it when
/// it went back to the pool (it does on every release), so it answered a moment ago. One idle
/// longer (a server restart, a proxy's idle cut) is pinged first and replaced if it is dead.
/// This saves one round trip per request on a busy pool.
pub const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// How the pool is sized and bounded. Every timeout here exists so that a slow or absent
/// database turns into a prompt error rather than a hung request.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub min_connections: u32,
    /// Longest wait for a free connection (or a new one) before the caller gets an error.
    pub acquire_timeout: Duration,
    /// `statement_timeout` on every connection: no query runs longer than this.
    pub statement_timeout: Duration,
    /// `idle_in_transaction_session_timeout`: a transaction left open is ended by the server.
    pub idle_in_transaction_timeout: Duration,
    pub application_name: String,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(10),
            idle_in_transaction_timeout: Duration::from_secs(15),
            application_name: "haven".to_owned(),
        }
    }
}

/// The URL could not be parsed. The message never repeats the URL (it may hold a password).
#[derive(Debug, thiserror::Error)]
#[error("DATABASE_URL is not a valid PostgreSQL URL: {reason}")]
pub struct InvalidDatabaseUrl {
    reason: String,
}

/// Parses the URL and applies the server-side timeouts as startup parameters, so they cost no
/// extra round trip per connection.
pub fn connect_options(
    url: &SecretString,
    settings: &PoolSettings,
) -> Result<PgConnectOptions, InvalidDatabaseUrl> {
    let options =
        PgConnectOptions::from_str(url.expose_secret()).map_err(|e| InvalidDatabaseUrl {
            // sqlx's parse errors describe the problem, not the URL; keep only their kind.
            reason: redact_parse_error(&e),
        })?;
    Ok(options
        .application_name(&settings.application_name)
        .options([
            (
                "statement_timeout",
                format!("{}ms", settings.statement_timeout.as_millis()),
            ),
            (
                "idle_in_transaction_session_timeout",
                format!("{}ms", settings.idle_in_transaction_timeout.as_millis()),
            ),
        ]))
}

fn redact_parse_error(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Configuration(inner) => {
            let text = inner.to_string();
            // A URL-parse error may quote the input; never pass that on.
            if text.contains("://") {
                "malformed URL".to_owned()
            } else {
                text
            }
        }
        _ => "malformed URL".to_owned(),
    }
}

/// Builds the pool lazily: no connection is made here, so the service can start (and report
/// itself unready) while the database is down, and recover by itself when it comes back.
pub fn connect_pool(
    url: &SecretString,
    settings: &PoolSettings,
) -> Result<PgPool, InvalidDatabaseUrl> {
    let options = connect_options(url, settings)?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(settings.acquire_timeout)
        .idle_timeout(Some(Duration::from_secs(300)))
        .max_lifetime(Some(Duration::from_secs(1800)))
        // A connection dropped by a restarted server is found out before it is handed over,
        // unless it was checked a moment ago (see `PING_IF_IDLE_FOR`).
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_url_error_never_repeats_the_password() {
        let url = SecretString::from("postgres://user:hunter2@[::1:5432/db");
        let error = connect_pool(&url, &PoolSettings::default()).unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn a_good_url_builds_a_lazy_pool_without_connecting() {
        let url = SecretString::from("postgres://user:pw@127.0.0.1:1/db");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pool = rt.block_on(async { connect_pool(&url, &PoolSettings::default()) });
        assert!(pool.is_ok());
    }
}
