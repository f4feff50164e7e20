//! Logging: JSON lines in production (one object per event, with the request span's fields
//! such as `request_id`), human-readable in development.

use tracing_subscriber::{EnvFilter, Layer, fmt, prelude::*, registry::LookupSpan};

use crate::config::LogFormat;

/// Installs the global subscriber. Safe to call more than once (tests start many services
/// in one process): later calls are no-ops.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry.with(json_layer(std::io::stdout)).try_init(),
        LogFormat::Pretty => registry
            .with(
                fmt::layer()
                    .with_target(false)
                    // Colour codes only for a terminal, not for a file or a pipe.
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())),
            )
            .try_init(),
    };
    if result.is_ok() {
        crate::metrics::enable(format == LogFormat::Json);
        if format == LogFormat::Json {
            log_panics();
        }
    }
}

/// The JSON line format, writing to `writer` (stdout in production; a buffer in tests).
pub fn json_layer<S, W>(writer: W) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .with_writer(writer)
}

/// A panic becomes one JSON error line (with the request's span, so its `request_id`)
/// instead of plain text on stderr that the log pipeline would split into fragments.
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(panic = panic_message(info.payload()), location, "panic");
    }));
}

/// The text a panic was raised with (`panic!("…")`, `expect("…")`).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}
