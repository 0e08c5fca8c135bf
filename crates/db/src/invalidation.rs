//! Cluster-wide cache invalidation messages: typed, versioned payloads sent with PostgreSQL
//! `NOTIFY` on [`CHANNEL`] in the transaction that makes the change (delivered at its commit).
//!
//! Every replica listens (`haven_api::invalidation`) and drops what a message names. The payload
//! is JSON `{"v": 1, "kind": ..., ...}`; a payload of another version or shape is refused by
//! [`Invalidation::parse`], and the listener logs and ignores it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{PgConnection, PgPool};

use crate::ids::TenantId;

/// The `LISTEN`/`NOTIFY` channel every replica listens on.
pub const CHANNEL: &str = "haven_invalidation";

/// The listening connection's `application_name` (operators find it in `pg_stat_activity`).
pub const LISTENER_APPLICATION_NAME: &str = "haven-listener";

/// The payload version this build writes and understands.
pub const VERSION: u32 = 1;

/// What changed, and so which cached entries every replica must drop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Invalidation {
    /// A tenant was suspended or activated: drop its cached row (keyed by the token's claim).
    TenantStatus { tenant_external_id: String },
    /// A user was disabled, enabled or removed: drop its cached identity.
    UserStatus {
        tenant_id: TenantId,
        subject: String,
    },
    /// Refetch the identity provider's signing keys now (`haven jwks refresh`).
    SigningKeys,
    /// A tenant's PHI keys were crypto-shredded (`haven tenants shred`): drop everything cached
    /// for that tenant, its unwrapped keys first.
    KeyShredded { tenant_id: TenantId },
    /// A tenant's PHI key was rotated (`haven tenants rotate-key`) or an old version retired:
    /// drop its cached keys so new writes use the new version at once.
    KeyRotated { tenant_id: TenantId },
}

#[derive(Serialize)]
struct Outgoing<'a> {
    v: u32,
    #[serde(flatten)]
    event: &'a Invalidation,
}

#[derive(Deserialize)]
struct Incoming {
    v: u32,
    #[serde(flatten)]
    event: serde_json::Value,
}

/// Why a payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("payload is not a JSON object with a numeric `v`: {0}")]
    Envelope(#[source] serde_json::Error),
    #[error("payload version {0} is not understood (this build reads version {VERSION})")]
    Version(u32),
    #[error("payload does not describe a known invalidation: {0}")]
    Event(#[source] serde_json::Error),
}

impl Invalidation {
    /// The wire form (always well under PostgreSQL's 8000-byte payload limit: ids and a
    /// subject of at most 255 characters).
    pub fn payload(&self) -> String {
        serde_json::to_string(&Outgoing {
            v: VERSION,
            event: self,
        })
        .expect("an invalidation serialises to JSON")
    }

    /// Reads a payload; anything but a well-formed message of [`VERSION`] is an error.
    pub fn parse(payload: &str) -> Result<Self, PayloadError> {
        let incoming: Incoming = serde_json::from_str(payload).map_err(PayloadError::Envelope)?;
        if incoming.v != VERSION {
            return Err(PayloadError::Version(incoming.v));
        }
        serde_json::from_value(incoming.event).map_err(PayloadError::Event)
    }
}

/// Announces `event` to every replica. Inside a transaction the message is delivered when it
/// commits, and not at all when it rolls back, so listeners never act on a change that did not
/// happen.
#[tracing::instrument(skip_all)]
pub async fn notify(conn: &mut PgConnection, event: &Invalidation) -> Result<(), sqlx::Error> {
    sqlx::query("select pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(event.payload())
        .execute(conn)
        .await?;
    Ok(())
}

/// Opens a listening connection on [`CHANNEL`] with `pool`'s settings. It has a one-connection
/// pool of its own, so it never holds a slot that requests need, and does not reconnect by
/// itself: the caller notices a lost connection and decides when to try again.
pub async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let options = (*pool.connect_options())
        .clone()
        .application_name(LISTENER_APPLICATION_NAME);
    let own = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options);
    let mut listener = PgListener::connect_with(&own).await?;
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_and_carries_its_version() {
        let tenant = TenantId::from_uuid(uuid::Uuid::new_v4());
        for event in [
            Invalidation::TenantStatus {
                tenant_external_id: "org-1".into(),
            },
            Invalidation::UserStatus {
                tenant_id: tenant,
                subject: "user-7".into(),
            },
            Invalidation::SigningKeys,
            Invalidation::KeyShredded { tenant_id: tenant },
            Invalidation::KeyRotated { tenant_id: tenant },
        ] {
            let payload = event.payload();
            assert!(payload.starts_with(r#"{"v":1,"kind":""#), "{payload}");
            assert_eq!(Invalidation::parse(&payload).unwrap(), event);
        }
    }

    #[test]
    fn malformed_foreign_or_future_payloads_are_refused() {
        for bad in [
            "",
            "not json",
            "[]",
            r#"{"kind":"signing_keys"}"#,
            r#"{"v":2,"kind":"signing_keys"}"#,
            r#"{"v":1,"kind":"drop_everything"}"#,
            r#"{"v":1,"kind":"tenant_status"}"#,
            r#"{"v":1,"kind":"user_status","tenant_id":"nope","subject":"a"}"#,
        ] {
            assert!(Invalidation::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
