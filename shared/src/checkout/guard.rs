//! Card-testing defences. Fraudsters test stolen card numbers through open payment links; a
//! card the processor declines counts against the link and against the client's address in
//! fixed windows kept in the store, so all Lambda instances share one count. Past a limit,
//! pays are refused before the processor is called; a link declining cards from many clients is
//! paused, with the reason shown to its merchant.
//!
//! Only the processor's declines of numbers that pass the checksum count: a refused try, a
//! mistyped number or an empty form costs nothing, so nobody can block or pause a link with
//! junk posts. One client alone can only block itself: a link is refused to everyone only when
//! its declines come from several clients, and paused only when they come from many.

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::ApiError;
use crate::model::LinkId;
use crate::store::{Counters, Links};

/// Counting window: fixed, so a burst straddling two windows can reach twice a limit.
pub const WINDOW: TimeDelta = TimeDelta::minutes(10);
/// Declines per client address (any link) per window before its further pays are refused.
pub const DECLINES_PER_CLIENT: u64 = 10;
/// Declines per link per window before pays on it are refused to everyone...
pub const DECLINES_PER_LINK: u64 = 10;
/// ...provided they came from at least this many client addresses.
pub const CLIENTS_TO_BLOCK_LINK: u64 = 3;
/// Clients with a declined card on one link per window at which the link is switched off for
/// its merchant to review.
pub const CLIENTS_TO_PAUSE_LINK: u64 = 10;

/// The window `now` falls in: its number and when it ends.
fn window(now: DateTime<Utc>) -> (i64, DateTime<Utc>) {
    let seconds = WINDOW.num_seconds();
    let index = now.timestamp().div_euclid(seconds);
    let end = DateTime::from_timestamp((index + 1) * seconds, 0).unwrap_or(now);
    (index, end)
}

/// The names of a window's counters.
struct CounterNames {
    link: String,
    link_clients: String,
    client: Option<String>,
    link_client: Option<String>,
}

impl CounterNames {
    fn new(link: &LinkId, client: Option<&str>, index: i64) -> Self {
        CounterNames {
            link: format!("declines:link:{link}:{index}"),
            link_clients: format!("declines:link-clients:{link}:{index}"),
            client: client.map(|client| format!("declines:client:{client}:{index}")),
            link_client: client.map(|client| format!("declines:link-client:{link}:{client}:{index}")),
        }
    }
}

/// Seconds until pays may be tried again, if this client, or this link (declining cards from
/// several clients), has had too many declines.
pub async fn refusal(
    counters: &(impl Counters + ?Sized),
    link: &LinkId,
    client: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<u64>, ApiError> {
    let (index, end) = window(now);
    let retry_after = u64::try_from((end - now).num_seconds().max(1)).unwrap_or(1);
    let names = CounterNames::new(link, client, index);
    // Every counter in one read (one round trip on DynamoDB).
    let wanted: Vec<&str> = [Some(names.link.as_str()), Some(names.link_clients.as_str()), names.client.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let counts = counters.read_counters(&wanted).await?;
    let count = |i: usize| counts.get(i).copied().unwrap_or(0);
    let (link_declines, link_clients, client_declines) = (count(0), count(1), count(2));
    let link_blocked = link_declines >= DECLINES_PER_LINK && link_clients >= CLIENTS_TO_BLOCK_LINK;
    Ok((link_blocked || client_declines >= DECLINES_PER_CLIENT).then_some(retry_after))
}

/// Counts one card the processor declined; pauses the link when many clients' cards were
/// declined on it within the window.
pub async fn record_decline(
    store: &(impl Counters + Links + ?Sized),
    link: &LinkId,
    client: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let (index, end) = window(now);
    let names = CounterNames::new(link, client, index);
    store.increment_counter(&names.link, end).await?;
    let (Some(client_name), Some(link_client_name)) = (&names.client, &names.link_client) else { return Ok(()) };
    store.increment_counter(client_name, end).await?;
    // A client's first decline on this link makes one more client declined on it.
    if store.increment_counter(link_client_name, end).await? > 1 {
        return Ok(());
    }
    let clients = store.increment_counter(&names.link_clients, end).await?;
    if clients == CLIENTS_TO_PAUSE_LINK {
        let reason = format!(
            "Paused automatically at {}: cards from {CLIENTS_TO_PAUSE_LINK} different clients were declined within {} \
             minutes, which looks like card testing. Activate the link again when you are ready.",
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            WINDOW.num_minutes()
        );
        tracing::warn!(link_id = %link, clients, "link paused: suspected card testing");
        store.set_link_active(link, false, Some(&reason), now).await?;
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
