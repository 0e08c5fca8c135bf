//! Settings for load limits (rate limits and where they are counted, concurrency cap, header
//! read timeout) and metrics.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::env::Env;

/// Load limits. The rate limits are shared by every replica when `redis_url` is set; otherwise
/// every number here applies to one process and N replicas admit up to N times as much (see
/// docs/API.md, "Rate limits").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsConfig {
    /// RATE_LIMIT_ENABLED: off only for benchmarks and fuzzing against a local service.
    pub rate_limit_enabled: bool,
    /// Sustained requests per minute for one authenticated subject in one tenant.
    pub principal_per_minute: u32,
    /// How many of those may arrive at once (the bucket size).
    pub principal_burst: u32,
    /// Sustained requests per minute for one client IP without credentials, authentication
    /// failures included.
    pub anon_per_minute: u32,
    pub anon_burst: u32,
    /// Requests served at once; beyond it a request is shed with 503 at once, never queued.
    pub max_concurrent_requests: usize,
    /// A client must finish sending its request headers within this long (slowloris); an idle
    /// keep-alive connection is closed after the same time.
    pub header_read_timeout: Duration,
    /// REDIS_URL (`redis://` or `rediss://`): where the rate limits are counted for all replicas.
    pub redis_url: Option<RedisUrl>,
}

/// A Redis URL that parsed; it may carry a password, so it never prints.
#[derive(Clone)]
pub struct RedisUrl(SecretString);

impl RedisUrl {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisUrl(***)")
    }
}

impl PartialEq for RedisUrl {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for RedisUrl {}

fn redis_url(env: &Env) -> Option<RedisUrl> {
    let url = env.secret("REDIS_URL")?;
    let scheme_ok = ["redis://", "rediss://"]
        .iter()
        .any(|scheme| url.expose_secret().starts_with(scheme));
    // The client's own parser decides; its message is not repeated (it may quote the URL).
    if !scheme_ok || redis::Client::open(url.expose_secret()).is_err() {
        env.invalid(
            "REDIS_URL",
            "must be a redis:// or rediss:// URL with a host (e.g. redis://default:PASSWORD@HOST:6379)",
        );
        return None;
    }
    Some(RedisUrl(url))
}

/// The private Prometheus listener (METRICS_PORT); absent when METRICS_PORT is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsConfig {
    pub bind_address: IpAddr,
    /// 0 picks a free port (tests read it back from the application).
    pub port: u16,
}

pub(super) fn limits(env: &Env) -> LimitsConfig {
    let principal_per_minute = env.bounded("RATE_LIMIT_PER_MINUTE", 600, 1, 1_000_000) as u32;
    let anon_per_minute = env.bounded("RATE_LIMIT_ANON_PER_MINUTE", 60, 1, 1_000_000) as u32;
    LimitsConfig {
        rate_limit_enabled: env.flag("RATE_LIMIT_ENABLED", true),
        principal_per_minute,
        principal_burst: env.bounded("RATE_LIMIT_BURST", 100, 1, 1_000_000) as u32,
        anon_per_minute,
        anon_burst: env.bounded("RATE_LIMIT_ANON_BURST", 30, 1, 1_000_000) as u32,
        max_concurrent_requests: env.bounded("MAX_CONCURRENT_REQUESTS", 512, 1, 100_000) as usize,
        header_read_timeout: Duration::from_secs(env.bounded(
            "HEADER_READ_TIMEOUT_SECONDS",
            10,
            1,
            300,
        )),
        redis_url: redis_url(env),
    }
}

pub(super) fn metrics(env: &Env, port: u16) -> Option<MetricsConfig> {
    env.text("METRICS_PORT")?;
    let metrics_port = env.bounded("METRICS_PORT", 0, 0, 65_535) as u16;
    if metrics_port == port {
        env.invalid(
            "METRICS_PORT",
            "must differ from PORT: metrics are never served on the public port",
        );
    }
    Some(MetricsConfig {
        bind_address: env.parse_or("METRICS_BIND_ADDRESS", IpAddr::V4(Ipv4Addr::LOCALHOST)),
        port: metrics_port,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Runs one section parser; `Err` holds the first variable at fault.
    fn parse<T>(vars: &HashMap<String, String>, f: impl FnOnce(&Env) -> T) -> Result<T, String> {
        let env = Env::new(vars);
        let value = f(&env);
        env.finish(value).map_err(|e| e.variables()[0].to_owned())
    }

    #[test]
    fn limits_have_safe_defaults_and_read_their_variables() {
        let empty = vars(&[]);
        let defaults = parse(&empty, limits).unwrap();
        assert!(defaults.rate_limit_enabled);
        assert_eq!(
            (defaults.principal_per_minute, defaults.anon_per_minute),
            (600, 60)
        );
        assert_eq!(defaults.max_concurrent_requests, 512);
        let set = vars(&[
            ("RATE_LIMIT_PER_MINUTE", "120"),
            ("RATE_LIMIT_ANON_BURST", "5"),
            ("HEADER_READ_TIMEOUT_SECONDS", "2"),
        ]);
        let read = parse(&set, limits).unwrap();
        assert_eq!(read.principal_per_minute, 120);
        assert_eq!(read.anon_burst, 5);
        assert_eq!(read.header_read_timeout, Duration::from_secs(2));
        let zero = vars(&[("MAX_CONCURRENT_REQUESTS", "0")]);
        assert_eq!(parse(&zero, limits).unwrap_err(), "MAX_CONCURRENT_REQUESTS");
    }

    #[test]
    fn a_redis_url_must_parse_and_never_prints() {
        assert_eq!(parse(&vars(&[]), limits).unwrap().redis_url, None);
        for good in [
            "redis://127.0.0.1:6379",
            "rediss://default:s3cret@redis.internal:6380/0",
        ] {
            let set = vars(&[("REDIS_URL", good)]);
            let url = parse(&set, limits).unwrap().redis_url.unwrap();
            assert_eq!(url.expose(), good);
            assert!(!format!("{url:?}").contains("s3cret"));
        }
        for bad in [
            "localhost:6379",
            "http://redis:6379",
            "redis://",
            "rediss://user:hunter2@host:notaport",
        ] {
            let set = vars(&[("REDIS_URL", bad)]);
            let env = Env::new(&set);
            let value = limits(&env);
            let errors = env.finish(value).unwrap_err();
            assert_eq!(errors.variables(), ["REDIS_URL"], "{bad}");
            assert!(!errors.to_string().contains("hunter2"), "{errors}");
        }
    }

    #[test]
    fn metrics_are_off_unless_a_port_is_set_and_never_on_the_public_port() {
        let empty = vars(&[]);
        assert_eq!(parse(&empty, |e| metrics(e, 8000)).unwrap(), None);
        let set = vars(&[("METRICS_PORT", "9100")]);
        let config = parse(&set, |e| metrics(e, 8000)).unwrap().unwrap();
        assert_eq!(config.port, 9100);
        assert!(config.bind_address.is_loopback(), "loopback by default");
        let same = vars(&[("METRICS_PORT", "8000")]);
        let error = parse(&same, |e| metrics(e, 8000)).unwrap_err();
        assert_eq!(error, "METRICS_PORT");
        let bad = vars(&[
            ("METRICS_PORT", "9100"),
            ("METRICS_BIND_ADDRESS", "nowhere"),
        ]);
        assert_eq!(
            parse(&bad, |e| metrics(e, 8000)).unwrap_err(),
            "METRICS_BIND_ADDRESS"
        );
    }
}
