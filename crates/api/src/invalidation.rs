//! The invalidation listener: one `LISTEN` connection per replica that drops cached tenants,
//! users and PHI keys, and refetches the signing keys, when any replica or operator command
//! announces a change.
//!
//! Not on the request path and not part of readiness: while the connection is down (reconnected
//! with capped exponential backoff) the caches' TTLs bound staleness, 10 s for tenants and 60 s
//! for users, PHI_KEY_CACHE_TTL_SECONDS for PHI keys. Messages sent meanwhile are lost, so every
//! (re)connection clears the caches, and a reconnection also refetches the signing keys.

use std::sync::Arc;
use std::time::Duration;

use haven_db::PgPool;
use haven_db::invalidation::{self, Invalidation};
use tokio::sync::watch;

use crate::auth::Oidc;
use crate::cache::IdentityCaches;

/// First and longest pause between connection attempts.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(10));

/// What the listener acts on.
#[derive(Clone)]
pub struct Targets {
    pub identity: Arc<IdentityCaches>,
    pub oidc: Option<Arc<Oidc>>,
    /// The PHI key cache (rotated and shredded tenants' keys are dropped at once).
    pub phi: Option<Arc<haven_phi::Phi>>,
}

impl Targets {
    /// Applies one payload; one that does not parse is logged and ignored.
    async fn apply(&self, payload: &str) {
        let event = match Invalidation::parse(payload) {
            Ok(event) => event,
            Err(error) => {
                metrics::counter!("invalidations_received_total", "kind" => "malformed")
                    .increment(1);
                tracing::warn!(%error, bytes = payload.len(), "invalidation ignored");
                return;
            }
        };
        metrics::counter!("invalidations_received_total", "kind" => kind(&event)).increment(1);
        tracing::info!(kind = kind(&event), "invalidation received");
        self.identity.invalidate(&event);
        if let Some(phi) = &self.phi {
            phi.invalidate(&event);
        }
        if event == Invalidation::SigningKeys {
            self.refresh_keys().await;
        }
    }

    async fn refresh_keys(&self) {
        let Some(jwks) = self.oidc.as_ref().and_then(|oidc| oidc.jwks()) else {
            return;
        };
        if jwks.force_refresh().await.is_err() {
            tracing::warn!("forced JWKS refresh failed; the previous keys stay in use");
        }
    }
}

fn kind(event: &Invalidation) -> &'static str {
    match event {
        Invalidation::TenantStatus { .. } => "tenant_status",
        Invalidation::UserStatus { .. } => "user_status",
        Invalidation::SigningKeys => "signing_keys",
        Invalidation::KeyShredded { .. } => "key_shredded",
        Invalidation::KeyRotated { .. } => "key_rotated",
    }
}

/// Runs the listener until `stop` turns true.
pub fn spawn(
    pool: PgPool,
    targets: Targets,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::select! {
            () = listen_forever(&pool, &targets) => {}
            _ = stop.wait_for(|stopped| *stopped) => {}
        }
        metrics::gauge!("invalidation_listener_connected").set(0.0);
    })
}

async fn listen_forever(pool: &PgPool, targets: &Targets) {
    let mut delay = BACKOFF.0;
    let mut connected_before = false;
    let mut failing = false;
    loop {
        let mut listener = match invalidation::listen(pool).await {
            Ok(listener) => listener,
            Err(error) => {
                // Logged once per outage, not once per attempt.
                if !failing {
                    tracing::warn!(%error, "invalidation listener cannot connect; cache TTLs apply until it does");
                    failing = true;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(BACKOFF.1);
                continue;
            }
        };
        failing = false;
        delay = BACKOFF.0;
        metrics::gauge!("invalidation_listener_connected").set(1.0);
        tracing::info!(
            channel = invalidation::CHANNEL,
            "invalidation listener connected"
        );
        // Whatever was announced while nobody listened is unknown: start from empty caches.
        targets.identity.clear();
        if let Some(phi) = &targets.phi {
            phi.clear_cache();
        }
        if connected_before {
            targets.refresh_keys().await;
        }
        connected_before = true;
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => targets.apply(notification.payload()).await,
                Ok(None) => {
                    tracing::warn!("invalidation listener lost its connection; reconnecting");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "invalidation listener failed; reconnecting");
                    break;
                }
            }
        }
        metrics::gauge!("invalidation_listener_connected").set(0.0);
        tokio::time::sleep(BACKOFF.0).await;
    }
}
