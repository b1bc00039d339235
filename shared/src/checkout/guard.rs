//! Card-testing defences. Fraudsters test stolen card numbers through open payment links;
//! every declined card counts against the link and against the client's IP in fixed windows
//! kept in the store, so all Lambda instances share one count. Past the limit, pays are
//! refused before the processor is called; a link under heavy attack is paused, with the
//! reason shown to its merchant.

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::ApiError;
use crate::model::LinkId;
use crate::store::{Counters, Links};

/// Counting window: fixed, so a burst straddling two windows can reach twice a limit.
pub const WINDOW: TimeDelta = TimeDelta::minutes(10);
/// Declines per link (any client) per window before further pays are refused.
pub const DECLINES_PER_LINK: u64 = 10;
/// Declines per client IP (any link) per window before further pays are refused.
pub const DECLINES_PER_CLIENT: u64 = 10;
/// Declines per link per window at which the link is switched off for its merchant to review.
pub const PAUSE_LINK_AFTER: u64 = 25;

/// The window `now` falls in: its number and when it ends.
fn window(now: DateTime<Utc>) -> (i64, DateTime<Utc>) {
    let seconds = WINDOW.num_seconds();
    let index = now.timestamp().div_euclid(seconds);
    let end = DateTime::from_timestamp((index + 1) * seconds, 0).unwrap_or(now);
    (index, end)
}

fn link_counter(link: &LinkId, index: i64) -> String {
    format!("declines:link:{link}:{index}")
}

fn client_counter(client_ip: &str, index: i64) -> String {
    format!("declines:client:{client_ip}:{index}")
}

/// Seconds until pays may be tried again, if this link or client has had too many declines.
pub async fn refusal(
    counters: &(impl Counters + ?Sized),
    link: &LinkId,
    client_ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<u64>, ApiError> {
    let (index, end) = window(now);
    let retry_after = u64::try_from((end - now).num_seconds().max(1)).unwrap_or(1);
    // Both counters in one read (one round trip on DynamoDB).
    let link_name = link_counter(link, index);
    let client_name = client_ip.map(|ip| client_counter(ip, index));
    let names: Vec<&str> = std::iter::once(link_name.as_str()).chain(client_name.as_deref()).collect();
    let counts = counters.read_counters(&names).await?;
    let link_declines = counts.first().copied().unwrap_or(0);
    let client_declines = counts.get(1).copied().unwrap_or(0);
    if link_declines >= DECLINES_PER_LINK || client_declines >= DECLINES_PER_CLIENT {
        return Ok(Some(retry_after));
    }
    Ok(None)
}

/// Counts one declined card; pauses the link when declines spike.
pub async fn record_decline(
    store: &(impl Counters + Links + ?Sized),
    link: &LinkId,
    client_ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let (index, end) = window(now);
    let link_declines = store.increment_counter(&link_counter(link, index), end).await?;
    if let Some(ip) = client_ip {
        store.increment_counter(&client_counter(ip, index), end).await?;
    }
    if link_declines == PAUSE_LINK_AFTER {
        let reason = format!(
            "Paused automatically at {}: {PAUSE_LINK_AFTER} declined cards within {} minutes looks like card testing. \
             Activate the link again when you are ready.",
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            WINDOW.num_minutes()
        );
        tracing::warn!(link_id = %link, declines = link_declines, "link paused: suspected card testing");
        store.set_link_active(link, false, Some(&reason)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_fixed_and_end_on_their_boundary() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let (a, end_a) = window(at("2026-03-01T09:00:00Z"));
        let (b, end_b) = window(at("2026-03-01T09:09:59Z"));
        let (c, _) = window(at("2026-03-01T09:10:00Z"));
        assert_eq!((a, end_a), (b, end_b));
        assert_eq!(c, a + 1);
        assert_eq!(end_a, at("2026-03-01T09:10:00Z"));
    }
}
