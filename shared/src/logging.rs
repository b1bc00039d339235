//! One JSON line per event on stdout (CloudWatch in Lambda, the terminal locally).
//! The level comes from `LOG_LEVEL` (default `info`). Handlers log ids, routes, statuses and
//! latencies only: never a key, a card number or a CVC.

use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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
    let json_lines = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false);
    // A second call (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(json_lines.with_filter(filter(std::env::var("LOG_LEVEL").ok().as_deref())))
        .try_init();
}

/// `LOG_LEVEL` as per-target levels (`info`, `debug`, `paylinks_core=trace,info`; info when unset
/// or not such a list), with the crates that log raw data capped at info.
///
/// `Targets` rather than `EnvFilter`: the same directives without span and field matching, which
/// is what pulls a regex engine into every function (BENCHMARKS §8).
fn filter(log_level: Option<&str>) -> Targets {
    let asked = log_level
        .filter(|level| !level.trim().is_empty())
        .and_then(|level| level.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let default = asked.default_level().unwrap_or(LevelFilter::OFF);
    // The raw-data crates at their cap first; a directive of the caller's for one of them (or for
    // one of their modules, which starts with the crate's name) then replaces it, capped too.
    let capped_to_info = |target: &str, level: LevelFilter| {
        if RAW_DATA_LOGGERS.iter().any(|raw| target.starts_with(raw)) { level.min(LevelFilter::INFO) } else { level }
    };
    let mut filter = Targets::new().with_default(default);
    for raw in RAW_DATA_LOGGERS {
        filter = filter.with_target(*raw, capped_to_info(raw, default));
    }
    for (target, level) in &asked {
        filter = filter.with_target(target, capped_to_info(target, level));
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
        let subscriber = tracing_subscriber::registry().with(layer.with_filter(filter(Some(log_level))));
        with_default(subscriber, || match (target, level) {
            ("lambda_runtime", Level::TRACE) => tracing::trace!(target: "lambda_runtime", "raw event"),
            ("lambda_runtime", _) => tracing::info!(target: "lambda_runtime", "runtime"),
            ("lambda_runtime::layers", _) => tracing::trace!(target: "lambda_runtime::layers", "raw event"),
            (_, Level::TRACE) => tracing::trace!(target: "paylinks_core", "ours"),
            _ => tracing::info!(target: "paylinks_core", "ours"),
        });
        seen.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[test]
    fn the_runtimes_raw_events_never_reach_the_log_whatever_the_level() {
        for level in
            ["trace", "debug", "lambda_runtime=trace,trace", "paylinks_core=trace", "lambda_runtime::layers=trace"]
        {
            assert!(!passes(level, "lambda_runtime", Level::TRACE), "LOG_LEVEL={level}");
            assert!(!passes(level, "lambda_runtime::layers", Level::TRACE), "LOG_LEVEL={level}, a module");
        }
        // Our own trace lines still appear at trace, and the runtime's info lines at info.
        assert!(passes("trace", "paylinks_core", Level::TRACE));
        assert!(passes("trace", "lambda_runtime", Level::INFO));
        assert!(!passes("warn", "lambda_runtime", Level::INFO), "a quieter level stays quieter");
        assert!(!passes("info,lambda_runtime=warn", "lambda_runtime", Level::INFO), "so does a quieter crate");
        assert!(passes("paylinks_core=trace,warn", "paylinks_core", Level::TRACE), "per-crate levels");
    }

    #[test]
    fn an_unset_blank_or_unreadable_level_logs_at_info() {
        for level in ["", "  ", "paylinks_core=[span]", "paylinks_core=loud"] {
            assert!(passes(level, "paylinks_core", Level::INFO), "LOG_LEVEL={level:?}");
            assert!(!passes(level, "paylinks_core", Level::TRACE), "LOG_LEVEL={level:?}");
        }
    }
}
