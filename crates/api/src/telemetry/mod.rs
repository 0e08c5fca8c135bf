//! Logs: one JSON object a line on stdout, span fields lifted to the top level, one info line
//! per request. Nothing here ever records a header value, query string or body.

mod json;
mod request;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use request::{completed, open_span};

/// Noisy dependencies are held at warn unless the directive names them.
fn directive(log_level: &str) -> String {
    format!(
        "{log_level},sqlx=warn,hyper=warn,h2=warn,aws_config=warn,aws_smithy_runtime=warn,reqwest=warn,refinery_core=warn"
    )
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
