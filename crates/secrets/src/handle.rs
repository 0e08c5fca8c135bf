//! The live secrets: a cheap handle, optionally kept fresh by a background refresh task.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::client::SecretsClient;
use crate::error::SecretsError;
use crate::secrets::AppSecrets;

/// Health of the secrets source, for readiness checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretsStatus {
    /// Secrets come from the environment: nothing to refresh.
    NotConfigured,
    /// The last successful refresh is within the staleness window.
    Ok,
    /// No successful refresh for longer than the window; `since` is the last success.
    Stale {
        /// When the secrets were last fetched successfully.
        since: SystemTime,
    },
}

/// Shared access to the current [`AppSecrets`]. Clones share the same state.
#[derive(Clone)]
pub struct SecretsHandle {
    inner: Arc<Inner>,
}

struct Inner {
    current: ArcSwap<AppSecrets>,
    /// `None` for a fixed (environment) source.
    freshness: Option<Freshness>,
}

struct Freshness {
    stale_after: Duration,
    last_ok: Mutex<LastOk>,
}

#[derive(Clone, Copy)]
struct LastOk {
    at: Instant,
    wall: SystemTime,
}

impl LastOk {
    fn now() -> LastOk {
        LastOk {
            at: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

impl SecretsHandle {
    /// A handle that never refreshes (secrets from the environment); status `NotConfigured`.
    pub fn fixed(secrets: AppSecrets) -> SecretsHandle {
        SecretsHandle {
            inner: Arc::new(Inner {
                current: ArcSwap::from_pointee(secrets),
                freshness: None,
            }),
        }
    }

    /// Serves `initial` (just loaded by `client`) and spawns a task that fetches again every
    /// `every`. A failed fetch keeps the last good value and logs a warning; the status turns
    /// `Stale` once no fetch has succeeded for `stale_after`.
    ///
    /// The task ends when `shutdown` becomes `true`, when its sender is dropped, or when every
    /// clone of the handle is gone. Must be called within a Tokio runtime.
    pub fn spawn_refresh(
        client: SecretsClient,
        initial: AppSecrets,
        every: Duration,
        stale_after: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> (SecretsHandle, JoinHandle<()>) {
        let handle = SecretsHandle {
            inner: Arc::new(Inner {
                current: ArcSwap::from_pointee(initial),
                freshness: Some(Freshness {
                    stale_after,
                    last_ok: Mutex::new(LastOk::now()),
                }),
            }),
        };
        let task = tokio::spawn(refresh_loop(
            client,
            Arc::downgrade(&handle.inner),
            every,
            shutdown,
        ));
        (handle, task)
    }

    /// The current secrets. Hold the `Arc` briefly: a rotation replaces it.
    pub fn current(&self) -> Arc<AppSecrets> {
        self.inner.current.load_full()
    }

    /// Whether the secrets are fresh, stale or not from Secrets Manager at all.
    pub fn status(&self) -> SecretsStatus {
        let Some(freshness) = &self.inner.freshness else {
            return SecretsStatus::NotConfigured;
        };
        let last_ok = *freshness
            .last_ok
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last_ok.at.elapsed() > freshness.stale_after {
            SecretsStatus::Stale {
                since: last_ok.wall,
            }
        } else {
            SecretsStatus::Ok
        }
    }
}

impl fmt::Debug for SecretsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsHandle")
            .field("current", &self.current())
            .field("status", &self.status())
            .finish()
    }
}

impl Inner {
    /// Records one refresh outcome; values are never logged, only key names and error kinds.
    fn apply(&self, secret_id: &str, outcome: Result<AppSecrets, SecretsError>) {
        match outcome {
            Ok(fresh) => {
                let changed = self.current.load().changed_keys(&fresh);
                self.current.store(Arc::new(fresh));
                if let Some(freshness) = &self.freshness {
                    *freshness
                        .last_ok
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = LastOk::now();
                }
                if !changed.is_empty() {
                    tracing::info!(secret_id, keys = ?changed, "secrets rotated");
                }
            }
            Err(error) => tracing::warn!(
                secret_id,
                error_code = error.code(),
                transient = error.is_transient(),
                error = %error,
                "secrets refresh failed; keeping the last good value"
            ),
        }
    }
}

async fn refresh_loop(
    client: SecretsClient,
    inner: Weak<Inner>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let secret_id = client.settings().secret_id.clone();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let outcome = tokio::select! {
            () = stopped(&mut shutdown) => break,
            outcome = async {
                ticker.tick().await;
                client.fetch().await
            } => outcome,
        };
        let Some(inner) = inner.upgrade() else { break };
        inner.apply(&secret_id, outcome);
    }
    tracing::debug!(secret_id, "secrets refresh stopped");
}

/// Resolves once shutdown is requested or its sender is gone.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // An error means the sender was dropped: nobody can ask us to keep going either.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn secrets(value: &str) -> AppSecrets {
        AppSecrets {
            oidc_client_secret: Some(value.into()),
            ..AppSecrets::default()
        }
    }

    fn refreshing(stale_after: Duration) -> SecretsHandle {
        SecretsHandle {
            inner: Arc::new(Inner {
                current: ArcSwap::from_pointee(secrets("v1")),
                freshness: Some(Freshness {
                    stale_after,
                    last_ok: Mutex::new(LastOk::now()),
                }),
            }),
        }
    }

    fn oidc(handle: &SecretsHandle) -> String {
        let current = handle.current();
        let value = current
            .oidc_client_secret
            .as_ref()
            .map(|s| s.expose_secret());
        value.unwrap_or_default().to_owned()
    }

    #[test]
    fn a_fixed_handle_is_not_configured_and_serves_its_value() {
        let handle = SecretsHandle::fixed(secrets("env-value"));
        assert_eq!(handle.status(), SecretsStatus::NotConfigured);
        assert_eq!(oidc(&handle.clone()), "env-value");
        assert!(!format!("{handle:?}").contains("env-value"));
    }

    #[test]
    fn a_failed_refresh_keeps_the_value_and_a_success_replaces_it() {
        let handle = refreshing(Duration::from_secs(60));
        let failure = SecretsError::Unavailable {
            secret_id: "s".into(),
            kind: "timeout".into(),
        };
        handle.inner.apply("s", Err(failure));
        assert_eq!(oidc(&handle), "v1");
        handle.inner.apply("s", Ok(secrets("v2")));
        assert_eq!(oidc(&handle), "v2");
        assert_eq!(handle.status(), SecretsStatus::Ok);
    }

    #[test]
    fn rotations_log_changed_key_names_and_failures_their_kind_but_no_value() {
        let logs = crate::test_log::capture(|| {
            let handle = refreshing(Duration::from_secs(60));
            let mut rotated = secrets("rotated-value-5d");
            rotated
                .extra
                .insert("NEW_KEY".into(), "new-value-6e".into());
            handle.inner.apply("s", Ok(rotated.clone()));
            handle.inner.apply("s", Ok(rotated));
            let failure = SecretsError::Unavailable {
                secret_id: "s".into(),
                kind: "dispatch failure".into(),
            };
            handle.inner.apply("s", Err(failure));
        });
        let lines: Vec<&str> = logs.lines().collect();
        assert_eq!(
            lines.len(),
            2,
            "one rotation, no log for an unchanged value, one failure: {logs}"
        );
        assert!(
            lines[0].contains("INFO") && lines[0].contains("secrets rotated"),
            "{logs}"
        );
        assert!(
            lines[0].contains(r#"["NEW_KEY", "OIDC_CLIENT_SECRET"]"#),
            "{logs}"
        );
        assert!(
            lines[1].contains("WARN") && lines[1].contains("dispatch failure"),
            "{logs}"
        );
        for value in ["v1", "rotated-value-5d", "new-value-6e"] {
            assert!(!logs.contains(value), "{value} leaked: {logs}");
        }
    }

    #[test]
    fn status_turns_stale_after_the_window_and_recovers_on_success() {
        let window = Duration::from_millis(50);
        let handle = refreshing(window);
        assert_eq!(handle.status(), SecretsStatus::Ok);
        std::thread::sleep(window * 2);
        assert!(matches!(handle.status(), SecretsStatus::Stale { .. }));
        handle.inner.apply("s", Ok(secrets("v2")));
        assert_eq!(handle.status(), SecretsStatus::Ok);
    }
}
