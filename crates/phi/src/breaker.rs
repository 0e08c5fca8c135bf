//! Failing fast while KMS is down: after a KMS failure, key misses are refused for a short pause
//! instead of each holding a request (and its pooled database connection) for a full KMS
//! timeout, which during an outage would exhaust the pool and hurt cached tenants too.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::PhiError;

/// How long misses fail fast after a KMS failure; the 503's `Retry-After` says the same.
pub(crate) const PAUSE: Duration = Duration::from_secs(5);

#[derive(Default)]
pub(crate) struct Breaker {
    open_until: Mutex<Option<Instant>>,
}

impl Breaker {
    fn state(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        // A single Option: a panic elsewhere cannot leave it inconsistent.
        self.open_until.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err` while a recent KMS failure's pause lasts.
    pub(crate) fn check(&self) -> Result<(), PhiError> {
        match *self.state() {
            Some(until) if Instant::now() < until => Err(PhiError::unavailable(
                "KMS failed moments ago; the next attempt waits for a short pause",
            )),
            _ => Ok(()),
        }
    }

    /// Opens the pause after a KMS failure; any other outcome closes it.
    pub(crate) fn record<T>(&self, result: &Result<T, PhiError>) {
        *self.state() = match result {
            Err(PhiError::KeyServiceUnavailable { .. }) => Some(Instant::now() + PAUSE),
            _ => None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_kms_failure_refuses_misses_for_the_pause_then_lets_one_through() {
        let breaker = Breaker::default();
        assert!(breaker.check().is_ok());
        breaker.record::<()>(&Err(PhiError::unavailable("down")));
        assert!(matches!(
            breaker.check(),
            Err(PhiError::KeyServiceUnavailable { .. })
        ));
        tokio::time::advance(PAUSE).await;
        assert!(breaker.check().is_ok());
        breaker.record(&Ok(()));
        assert!(breaker.check().is_ok());
    }
}
