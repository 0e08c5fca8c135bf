//! Logs: one JSON object a line on stdout, span fields lifted to the top level, one info line
//! per request. Nothing here ever records a header value, query string or body.

mod json;
mod request;
mod timestamp;

use tracing_subscriber::EnvFilter;
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

/// Installs the JSON subscriber for the process. Calling it twice is harmless (tests do).
pub fn init(log_level: &str) {
    let filter =
        EnvFilter::try_new(directive(log_level)).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(filter)
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
    use super::directive;

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
        use tracing::level_filters::LevelFilter;
        use tracing_subscriber::EnvFilter;
        let filter = EnvFilter::try_new(directive("info,sqlx=debug")).expect("valid directive");
        // The filter's most verbose level is what a `sqlx=debug` directive asks for.
        assert_eq!(filter.max_level_hint(), Some(LevelFilter::DEBUG));
        let quiet = EnvFilter::try_new(directive("info")).expect("valid directive");
        assert_eq!(quiet.max_level_hint(), Some(LevelFilter::INFO));
    }
}
