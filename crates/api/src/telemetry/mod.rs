//! Logs: one JSON object a line on stdout, span fields lifted to the top level, one info line
//! per request. Nothing here ever records a header value, query string or body.

mod json;
mod request;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
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

/// Lines waiting for the writer thread at most; past that, logging waits (nothing is dropped).
/// At a few hundred bytes a line, about 2 MB.
const BUFFERED_LINES: usize = 8192;

/// Keeps the log writer thread running; dropping it writes out every queued line. Hold it for
/// as long as the process logs.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard {
    _writer: Option<WorkerGuard>,
}

/// Installs the JSON subscriber for the process. Calling it twice is harmless (tests do): the
/// second call installs nothing and its guard holds nothing.
///
/// Lines are formatted on the thread that logs and written to stdout by one writer thread,
/// which drains every queued line and then flushes them together: under load that is one write
/// for many lines instead of one system call per request (docs/PERFORMANCE.md). The queue is
/// bounded and never lossy; if stdout stalls, logging waits as a direct write would. A line is
/// written within moments, but on a kill -9 or a crash the lines still queued are lost.
pub fn init(log_level: &str) -> LogGuard {
    let filter =
        EnvFilter::try_new(directive(log_level)).unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("haven-log-writer")
        .finish(std::io::BufWriter::new(std::io::stdout()));
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(json::SpanFieldsLayer)
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(json::JsonLines)
                // JsonLines reads span fields from SpanFieldsLayer; the fmt layer's own text
                // rendering of them would be work thrown away on every span.
                .fmt_fields(json::NoFields)
                .with_writer(writer),
        )
        .try_init()
        .is_ok();
    install_panic_hook();
    LogGuard {
        _writer: installed.then_some(guard),
    }
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
