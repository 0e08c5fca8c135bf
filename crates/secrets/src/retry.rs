//! Capped exponential backoff with jitter for transient failures, within a total budget.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::SecretsError;

/// First delay between attempts; it doubles after each failure.
const INITIAL_DELAY: Duration = Duration::from_millis(200);
/// Largest delay between attempts.
const MAX_DELAY: Duration = Duration::from_secs(5);

/// Delays that double from [`INITIAL_DELAY`] up to [`MAX_DELAY`], each drawn from the upper
/// half of its step ("equal jitter") so that restarting replicas do not retry in lockstep.
#[derive(Debug)]
pub(crate) struct Backoff {
    step: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff {
            step: INITIAL_DELAY,
        }
    }

    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(MAX_DELAY);
        step / 2 + (step / 2).mul_f64(random_unit())
    }
}

/// A number in [0, 1): std's randomly keyed hasher is random enough for jitter.
fn random_unit() -> f64 {
    let bits = RandomState::new().hash_one(Instant::now()) >> 11;
    bits as f64 / (1u64 << 53) as f64
}

/// Runs `attempt` until it succeeds, fails permanently or the budget is spent.
///
/// The first attempt always runs (bounded by its own timeout); later attempts are also cut
/// off at the budget's end. When the budget runs out the last real error is returned (its AWS
/// error kind is what operators need), or a timeout if no attempt ever finished.
pub(crate) async fn retry_transient<T, F, Fut>(
    secret_id: &str,
    budget: Duration,
    mut attempt: F,
) -> Result<T, SecretsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SecretsError>>,
{
    let deadline = Instant::now() + budget;
    let mut backoff = Backoff::new();
    let mut attempts: u32 = 0;
    let mut last_error: Option<SecretsError> = None;
    loop {
        attempts += 1;
        let result = if attempts == 1 {
            attempt().await
        } else {
            match tokio::time::timeout_at(deadline, attempt()).await {
                Ok(result) => result,
                Err(_) => {
                    let error = last_error
                        .take()
                        .unwrap_or_else(|| SecretsError::Unavailable {
                            secret_id: secret_id.to_owned(),
                            kind: "timeout (retry budget spent)".to_owned(),
                        });
                    tracing::warn!(secret_id, attempts, error_code = error.code(), error = %error,
                        "giving up on Secrets Manager: retry budget spent");
                    return Err(error);
                }
            }
        };
        let error = match result {
            Ok(value) => {
                if attempts > 1 {
                    tracing::info!(secret_id, attempts, "secrets loaded after retrying");
                }
                return Ok(value);
            }
            Err(error) if !error.is_transient() => return Err(error),
            Err(error) => error,
        };
        let delay = backoff.next_delay();
        if Instant::now() + delay >= deadline {
            tracing::warn!(
                secret_id,
                attempts,
                error_code = error.code(),
                error = %error,
                "giving up on Secrets Manager: retry budget spent"
            );
            return Err(error);
        }
        tracing::warn!(
            secret_id,
            attempts,
            delay_ms = delay.as_millis() as u64,
            error_code = error.code(),
            error = %error,
            "Secrets Manager call failed; retrying"
        );
        last_error = Some(error);
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn transient() -> SecretsError {
        SecretsError::Unavailable {
            secret_id: "s".into(),
            kind: "dispatch failure".into(),
        }
    }

    #[test]
    fn delays_double_with_jitter_up_to_the_cap() {
        let mut backoff = Backoff::new();
        let mut step = INITIAL_DELAY;
        for _ in 0..10 {
            let delay = backoff.next_delay();
            assert!(
                delay >= step / 2 && delay <= step,
                "{delay:?} for step {step:?}"
            );
            step = (step * 2).min(MAX_DELAY);
        }
        assert_eq!(step, MAX_DELAY);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let result = retry_transient("s", Duration::from_secs(30), || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0..=2 => Err(transient()),
                _ => Ok("loaded"),
            }
        })
        .await;
        assert_eq!(result, Ok("loaded"));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_failures_return_at_once() {
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let result: Result<(), _> = retry_transient("s", Duration::from_secs(30), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(SecretsError::NotFound {
                secret_id: "s".into(),
            })
        })
        .await;
        assert!(matches!(result, Err(SecretsError::NotFound { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_bounds_total_time_and_returns_the_last_error() {
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let budget = Duration::from_secs(10);
        let result: Result<(), _> = retry_transient("s", budget, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            Err(transient())
        })
        .await;
        assert_eq!(result, Err(transient()));
        assert!(started.elapsed() <= budget, "{:?}", started.elapsed());
        assert!(calls.load(Ordering::SeqCst) >= 4, "{calls:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_retry_is_cut_off_at_the_budget() {
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let budget = Duration::from_secs(3);
        let result: Result<(), _> = retry_transient("s", budget, || async {
            if calls.fetch_add(1, Ordering::SeqCst) > 0 {
                std::future::pending::<()>().await;
            }
            Err(transient())
        })
        .await;
        assert!(matches!(result, Err(SecretsError::Unavailable { .. })));
        assert_eq!(started.elapsed(), budget);
    }
}
