//! One JSON line per event on stdout (CloudWatch in Lambda, the terminal locally).
//! The level comes from `LOG_LEVEL` (default `info`). Handlers log ids, routes, statuses and
//! latencies only: never a key, a card number or a CVC.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("LOG_LEVEL").unwrap_or_else(|_| EnvFilter::new("info"));
    // A second call (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter)
        .try_init();
}
