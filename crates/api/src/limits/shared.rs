//! Rate-limit budgets shared by every replica (REDIS_URL): one GCRA step per request, done
//! atomically by a Lua script on Redis's clock. Redis unreachable → the caller falls back to
//! its local limiter; a request is never refused because Redis is down.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use tokio::sync::Mutex;

use super::headers::Budget;

/// How long Redis may take to accept a connection or answer one call before the replica falls
/// back to its local limiter for this request.
const TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, Redis is not tried again for this long (requests use the local limiter), so
/// an outage costs one timeout per replica per pause, not one per request.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(2);

/// GCRA: KEYS[1] holds the theoretical arrival time (ms) of the key's next request.
/// ARGV: emission interval (ms), burst. Returns {admitted (0/1), remaining, wait or reset (ms)}.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if now < allow_at then
  return {0, 0, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
local used = math.ceil((new_tat - now) / interval)
return {1, burst - used, new_tat - now}
";

/// The connection to Redis and whether it works, for one replica.
pub struct SharedStore {
    client: Client,
    connection: Mutex<Option<ConnectionManager>>,
    script: Script,
    epoch: Instant,
    /// Milliseconds since `epoch` before which Redis is not tried (0: try).
    paused_until_ms: AtomicU64,
    /// Whether the fallback is in force (logged once when it starts and once when it ends).
    degraded: AtomicBool,
}

impl SharedStore {
    /// A store for `url` (already validated by the configuration); connects on first use.
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: Client::open(url)?,
            connection: Mutex::new(None),
            script: Script::new(GCRA),
            epoch: Instant::now(),
            paused_until_ms: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Takes one request from `key`'s shared budget; `None` when Redis cannot answer now (the
    /// caller then asks its local limiter).
    pub async fn check(
        &self,
        key: &str,
        interval: Duration,
        burst: u32,
    ) -> Option<Result<Budget, Duration>> {
        if self.now_ms() < self.paused_until_ms.load(Ordering::Acquire) {
            metrics::counter!("rate_limit_redis_fallback_total").increment(1);
            return None;
        }
        match self.run(key, interval, burst).await {
            Ok(answer) => {
                if self.degraded.swap(false, Ordering::AcqRel) {
                    tracing::info!("Redis reachable again: rate limits are shared again");
                }
                Some(answer)
            }
            Err(error) => {
                metrics::counter!("rate_limit_redis_fallback_total").increment(1);
                self.paused_until_ms.store(
                    self.now_ms() + PAUSE_AFTER_FAILURE.as_millis() as u64,
                    Ordering::Release,
                );
                if !self.degraded.swap(true, Ordering::AcqRel) {
                    tracing::warn!(%error, "Redis unreachable: rate limits fall back to this replica's own counts");
                }
                None
            }
        }
    }

    async fn run(
        &self,
        key: &str,
        interval: Duration,
        burst: u32,
    ) -> redis::RedisResult<Result<Budget, Duration>> {
        let mut connection = self.connection().await?;
        let interval_ms = u64::try_from(interval.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let (admitted, remaining, ms): (u8, i64, i64) = self
            .script
            .key(key)
            .arg(interval_ms)
            .arg(burst)
            .invoke_async(&mut connection)
            .await?;
        let ms = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
        Ok(if admitted == 1 {
            let remaining = u32::try_from(remaining).unwrap_or(0).min(burst);
            Ok(Budget {
                limit: burst,
                remaining,
                reset: ms,
            })
        } else {
            Err(ms)
        })
    }

    /// The connection manager (it reconnects by itself once made); made on first use.
    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let connection = ConnectionManager::new_with_config(self.client.clone(), config).await?;
        *slot = Some(connection.clone());
        Ok(connection)
    }
}
