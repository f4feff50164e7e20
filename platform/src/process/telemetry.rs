//! Logging: JSON lines in production (one object per event, with the request span's fields
//! such as `request_id`), human-readable in development.
//!
//! A request never writes to stdout itself: its lines go into a bounded queue that a thread
//! of their own writes out in batches. When stdout is slower than the lines come (a stalled
//! log pipe), lines past the queue's bound are dropped rather than the request held up.

use std::io::{BufWriter, Stdout};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::{EnvFilter, Layer, fmt, prelude::*, registry::LookupSpan};

use crate::{process::config::LogFormat, process::metrics};

/// Lines queued for stdout at most (a few hundred bytes each): about a second of a flood,
/// and a bound on what a stalled pipe can cost in memory.
pub const LOG_QUEUE_LINES: usize = 8192;

/// Keeps the log writer and the metrics emitter running; dropping it (at the end of `main`)
/// writes the last metrics and flushes the queued lines. Hold it for the process lifetime.
#[must_use = "dropping the guard stops the log writer"]
pub struct Guard {
    // Field order is drop order: metrics first, so their last document is not cut off.
    _metrics: Option<metrics::Emitter>,
    _log: Option<WorkerGuard>,
}

/// Installs the global subscriber. Safe to call more than once (tests start many services
/// in one process): later calls are no-ops and return an empty guard.
pub fn init(format: LogFormat, default_filter: &str) -> Guard {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // sqlx's pool warns for every pooled connection a failover or restart ended (its test of
    // a returned connection fails): lines about no request, that the requests' own access
    // lines and the outage summary already explain. Shown when RUST_LOG names sqlx.
    let names_sqlx = std::env::var("RUST_LOG").is_ok_and(|f| f.contains("sqlx"));
    if !names_sqlx && let Ok(quiet) = "sqlx_core::pool=error".parse() {
        filter = filter.add_directive(quiet);
    }
    let registry = tracing_subscriber::registry().with(filter);
    let is_terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let (writer, log_guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(true)
        .thread_name("log-writer")
        .finish(stdout_batches());
    let result = match format {
        LogFormat::Json => registry.with(json_layer(writer)).try_init(),
        LogFormat::Pretty => registry
            .with(
                fmt::layer()
                    .with_target(false)
                    // Colour codes only for a terminal, not for a file or a pipe.
                    .with_ansi(is_terminal)
                    .with_writer(writer),
            )
            .try_init(),
    };
    if result.is_err() {
        return Guard {
            _metrics: None,
            _log: None,
        };
    }
    let json = format == LogFormat::Json;
    metrics::enable(json);
    if json {
        log_panics();
    }
    Guard {
        _metrics: json.then(|| metrics::Emitter::start(metrics::INTERVAL)),
        _log: Some(log_guard),
    }
}

/// stdout behind a buffer: the writer thread writes what is queued, then flushes once the
/// queue is empty, so a burst of lines costs one `write` instead of one each.
fn stdout_batches() -> BufWriter<Stdout> {
    BufWriter::with_capacity(64 * 1024, std::io::stdout())
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
