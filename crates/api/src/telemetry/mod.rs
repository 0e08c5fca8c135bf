//! Logs: one JSON object a line on stdout, span fields lifted to the top level, one info line
//! per request. Nothing here ever records a header value, query string or body.

mod json;
mod request;
mod timestamp;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use request::{completed, open_span};

/// Dependencies that are noisy below warn.
const NOISY: &[&str] = &[
    "sqlx",
    "hyper",
    "h2",
    "aws_config",
    "aws_smithy_runtime",
    "reqwest",
    "refinery_core",
];

/// LOG_LEVEL plus `<crate>=warn` for each noisy dependency the directive does not name itself, so
/// `LOG_LEVEL=info,sqlx=debug` turns SQL logging on (an appended `sqlx=warn` would override it).
fn directive(log_level: &str) -> String {
    let named: Vec<&str> = log_level
        .split(',')
        .filter_map(|part| part.split_once('=').map(|(target, _)| target))
        .map(|target| target.split('[').next().unwrap_or(target).trim())
        .collect();
    let mut directive = log_level.to_owned();
    for noisy in NOISY.iter().filter(|noisy| !named.contains(noisy)) {
        directive.push_str(&format!(",{noisy}=warn"));
    }
    directive
}

/// The filter for a directive, exactly one of the two: `Targets` when the directive names only
/// targets and levels (the usual case), `EnvFilter` for the rest of its syntax (span and field
/// filters such as `h2[conn]=trace`). Both decide the same for a target-and-level directive (a
/// test compares them); `Targets` is a static table, while `EnvFilter` takes a lock and a map
/// lookup on every span entered, exited and closed, on every request (docs/PERFORMANCE.md).
fn filters(directive: &str) -> (Option<Targets>, Option<EnvFilter>) {
    // `Targets` would read `h2[conn]` as a target's name, so brackets and braces go to EnvFilter
    // before it is asked; so does what it cannot parse (a target without a level).
    let static_only = !directive.contains(['[', ']', '{', '}']);
    match directive.parse::<Targets>().ok().filter(|_| static_only) {
        Some(targets) => (Some(targets), None),
        None => {
            let filter = EnvFilter::try_new(directive).unwrap_or_else(|_| EnvFilter::new("info"));
            (None, Some(filter))
        }
    }
}

/// Installs the JSON subscriber for the process. Calling it twice is harmless (tests do).
pub fn init(log_level: &str) {
    let (targets, env_filter) = filters(&directive(log_level));
    let _ = tracing_subscriber::registry()
        .with(targets)
        .with(env_filter)
        .with(json::SpanFieldsLayer)
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(json::JsonLines)
                // JsonLines reads span fields from SpanFieldsLayer; the fmt layer's own text
                // rendering of them would be work thrown away on every span.
                .fmt_fields(json::NoFields)
                .with_writer(std::io::stdout),
        )
        .try_init();
    install_panic_hook();
}

/// Panics are logged as one JSON line (inside the request span when a handler panics), not as
/// the default multi-line stderr text that CloudWatch would split into fragments.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_owned());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        tracing::error!(panic = %message, location = location.as_deref(), "panic");
    }));
}

#[cfg(test)]
mod tests {
    use super::{directive, filters};
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;

    /// Records the target and level of every event that gets through.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> Layer<S> for Seen {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            let meta = event.metadata();
            let seen = format!("{} {}", meta.target(), meta.level());
            self.0.lock().expect("not poisoned").push(seen);
        }
    }

    macro_rules! every_level {
        ($($target:literal),*) => {$(
            tracing::trace!(target: $target, "t");
            tracing::debug!(target: $target, "d");
            tracing::info!(target: $target, "i");
            tracing::warn!(target: $target, "w");
            tracing::error!(target: $target, "e");
        )*};
    }

    /// The events each filter lets through, for events at every level from several targets.
    fn seen_with(filter: impl Layer<tracing_subscriber::Registry> + Send + Sync) -> Vec<String> {
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry().with(filter.and_then(seen.clone()));
        tracing::subscriber::with_default(subscriber, || {
            every_level!(
                "haven_api",
                "haven_api::routes::documents",
                "haven_db",
                "sqlx",
                "sqlx::query",
                "hyper::proto::h1",
                "h2",
                "refinery_core::traits",
                "other_crate"
            );
        });
        seen.0.lock().expect("not poisoned").clone()
    }

    #[test]
    fn a_target_and_level_directive_is_a_static_table_that_decides_as_env_filter_would() {
        for log_level in [
            "info",
            "debug",
            "trace",
            "warn",
            "error",
            "off",
            "info,haven_api=debug",
            "info,sqlx=debug",
            "warn,haven_api::routes=trace,haven_db=off",
            "warn,haven_api",
            "INFO,haven_api=DEBUG",
            "error,haven_api=3",
        ] {
            let directive = directive(log_level);
            let (targets, env_filter) = filters(&directive);
            assert!(env_filter.is_none(), "{directive}");
            let targets = targets.expect("parsed as targets");
            let env_filter =
                tracing_subscriber::EnvFilter::try_new(&directive).expect("a valid directive");
            let by_targets = seen_with(targets);
            assert_eq!(by_targets, seen_with(env_filter), "{directive}");
            assert!(log_level == "off" || !by_targets.is_empty(), "{directive}");
        }
        // Span and field filters need EnvFilter.
        for log_level in ["info,h2[conn]=trace", "info,[request{route=\"/x\"}]=debug"] {
            let (targets, env_filter) = filters(&directive(log_level));
            assert!(targets.is_none() && env_filter.is_some(), "{log_level}");
        }
    }

    #[test]
    fn noisy_dependencies_stay_at_warn_unless_the_directive_names_them() {
        assert_eq!(
            directive("debug"),
            "debug,sqlx=warn,hyper=warn,h2=warn,aws_config=warn,aws_smithy_runtime=warn,reqwest=warn,refinery_core=warn"
        );
        let sql = directive("info,sqlx=debug");
        assert!(sql.starts_with("info,sqlx=debug,"), "{sql}");
        assert!(!sql.contains("sqlx=warn"), "{sql}");
        assert!(sql.contains("hyper=warn"), "{sql}");
        assert!(!directive("info,h2[conn]=trace").contains("h2=warn"));
    }

    #[test]
    fn sql_logging_is_enabled_by_log_level_info_sqlx_debug() {
        let seen = |log_level: &str| {
            let (targets, env_filter) = filters(&directive(log_level));
            assert!(env_filter.is_none(), "{log_level}");
            seen_with(targets.expect("parsed as targets"))
        };
        let sql = "sqlx::query DEBUG".to_owned();
        assert!(seen("info,sqlx=debug").contains(&sql));
        assert!(!seen("info").contains(&sql));
        // Other noisy dependencies stay at warn.
        assert!(!seen("info,sqlx=debug").contains(&"hyper::proto::h1 INFO".to_owned()));
    }
}
