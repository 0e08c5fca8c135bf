//! What discovery found, set once and shared by the login flow and token validation: the
//! provider's endpoints and its key cache.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::watch;

use super::discovery::OidcProvider;
use super::error::AuthError;
use super::jwks::JwksCache;

/// The discovered provider and its keys.
pub(crate) struct Discovered {
    pub provider: Arc<OidcProvider>,
    pub jwks: Arc<JwksCache>,
}

/// Empty until discovery succeeds, then set for the life of the process.
pub(crate) struct ReadySlot {
    discovered: OnceLock<Discovered>,
    ready_tx: watch::Sender<bool>,
}

impl ReadySlot {
    pub(crate) fn new() -> Self {
        Self {
            discovered: OnceLock::new(),
            ready_tx: watch::channel(false).0,
        }
    }

    /// The discovery result, or `IdpUnavailable` before discovery succeeded.
    pub(crate) fn get(&self) -> Result<&Discovered, AuthError> {
        self.discovered.get().ok_or(AuthError::IdpUnavailable)
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.discovered.get().is_some()
    }

    /// Sets the result once and wakes the waiters.
    pub(crate) fn set(&self, discovered: Discovered) {
        if self.discovered.set(discovered).is_ok() {
            self.ready_tx.send_replace(true);
        }
    }

    /// Waits until discovery has succeeded or `timeout` passes.
    pub(crate) async fn wait(&self, timeout: Duration) -> bool {
        let mut rx = self.ready_tx.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|ready| *ready)).await;
        self.is_ready()
    }
}
