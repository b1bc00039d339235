//! One JSON line per event on stdout (CloudWatch in Lambda, the terminal locally).
//! The level comes from `LOG_LEVEL` (default `info`). Handlers log ids, routes, statuses and
//! latencies only: never a key, a card number or a CVC.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// The runtime's, the SDK's and the HTTP stack's own crates. At debug and trace they log raw
/// events and requests (lambda_runtime logs every invocation's event at trace: card numbers in
/// pay forms, API keys in headers), so they stay at info whatever `LOG_LEVEL` asks.
const RAW_DATA_LOGGERS: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "aws_config",
    "aws_runtime",
    "aws_sdk_dynamodb",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_smithy_types",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "tower",
];

pub fn init() {
    // A second call (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter(std::env::var("LOG_LEVEL").ok().as_deref()))
        .try_init();
}

/// `LOG_LEVEL` as a filter (info when unset or not a filter), with the crates that log raw
/// data capped at info.
fn filter(log_level: Option<&str>) -> EnvFilter {
    let mut filter =
        log_level.and_then(|level| EnvFilter::try_new(level).ok()).unwrap_or_else(|| EnvFilter::new("info"));
    if filter.max_level_hint().is_none_or(|most_verbose| most_verbose > LevelFilter::INFO) {
        for target in RAW_DATA_LOGGERS {
            filter = filter.add_directive(format!("{target}=info").parse().expect("a valid directive"));
        }
    }
    filter
}

#[cfg(test)]
mod tests {
    use tracing::Level;
    use tracing::subscriber::with_default;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Whether an event at `level` from `target` passes the filter made from `log_level`.
    fn passes(log_level: &str, target: &'static str, level: Level) -> bool {
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = seen.clone();
        let layer = tracing_subscriber::fmt::layer().with_writer(move || {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            std::io::sink()
        });
        let subscriber = tracing_subscriber::registry().with(layer).with(filter(Some(log_level)));
        with_default(subscriber, || match (target, level) {
            ("lambda_runtime", Level::TRACE) => tracing::trace!(target: "lambda_runtime", "raw event"),
            ("lambda_runtime", _) => tracing::info!(target: "lambda_runtime", "runtime"),
            (_, Level::TRACE) => tracing::trace!(target: "paylinks_core", "ours"),
            _ => tracing::info!(target: "paylinks_core", "ours"),
        });
        seen.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[test]
    fn the_runtimes_raw_events_never_reach_the_log_whatever_the_level() {
        for level in ["trace", "debug", "lambda_runtime=trace,trace", "paylinks_core=trace"] {
            assert!(!passes(level, "lambda_runtime", Level::TRACE), "LOG_LEVEL={level}");
        }
        // Our own trace lines still appear at trace, and the runtime's info lines at info.
        assert!(passes("trace", "paylinks_core", Level::TRACE));
        assert!(passes("trace", "lambda_runtime", Level::INFO));
        assert!(!passes("warn", "lambda_runtime", Level::INFO), "a quieter level stays quieter");
    }
}
