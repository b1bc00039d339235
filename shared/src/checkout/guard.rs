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
//!
//! A link's declines are known only once the processor answers, so a burst of submissions from
//! many addresses at once would all begin before the first is counted. Each link therefore also
//! takes at most [`UNSETTLED_ATTEMPTS_PER_LINK`] attempts a minute that are still being charged
//! or were declined, counted in the decision that begins each one: a burst reaches the
//! processor that many times at most, and the link's block and pause follow from its declines.

use chrono::{DateTime, TimeDelta, Utc};

pub use crate::clock::seconds_until;
use crate::error::ApiError;
use crate::model::{LinkId, RateCounter};
use crate::store::{CounterLimit, Counters, Links};

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
/// Attempts on one link begun in a minute that may be undecided or declined: a payment gives
/// its place back, so only declines and charges in flight fill it. Far above what an honest
/// link meets (its block above comes after ten declines), and enough for fifty customers paying
/// at the same moment. Fixed minutes: a burst straddling two can reach twice it.
pub const UNSETTLED_ATTEMPTS_PER_LINK: u64 = 50;

/// What a pay on `link` from `client` at `now` must be within: the client's declines (on any
/// link) in the window below [`DECLINES_PER_CLIENT`] (when its address is known), and the link's
/// unsettled attempts in the minute below [`UNSETTLED_ATTEMPTS_PER_LINK`]. The attempt counts on
/// both from its start and gives the counts back unless the processor declines the card, so a
/// burst of submissions at once cannot all pass one reading of a count. (A link
/// declining cards from several clients is blocked on the link itself: `record_decline`.)
pub fn attempt_limits(link: &LinkId, client: Option<&str>, now: DateTime<Utc>) -> Vec<CounterLimit> {
    let on_link = CounterLimit {
        counter: RateCounter::in_window(&format!("attempts:link:{link}"), now, TimeDelta::minutes(1)),
        limit: UNSETTLED_ATTEMPTS_PER_LINK,
    };
    let on_client = client.map(|client| CounterLimit {
        counter: RateCounter::in_window(&format!("declines:client:{client}"), now, WINDOW),
        limit: DECLINES_PER_CLIENT,
    });
    on_client.into_iter().chain([on_link]).collect()
}

/// Counts one card the processor declined against the link, with the client among those
/// declined on it (the attempt's own counts went up when it began: `attempt_limits`).
/// A link declining cards from several clients is blocked until the window ends; from many, it
/// is paused for its merchant.
pub async fn record_decline(
    store: &(impl Counters + Links + ?Sized),
    link: &LinkId,
    client: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    // The link's declines in the window, with the clients they came from.
    let declines = RateCounter::in_window(&format!("declines:link:{link}"), now, WINDOW);
    let end = declines.window_end;
    let on_link = store.count_client(&declines.name, client, end).await?;
    if on_link.count >= DECLINES_PER_LINK && on_link.clients >= CLIENTS_TO_BLOCK_LINK {
        // Later pays on it are refused before a use is held, so this is written about once.
        tracing::warn!(link_id = %link, declines = on_link.count, clients = on_link.clients, "link blocked: card testing");
        store.block_payments(link, end).await?;
    }
    // Once per window: when this decline's client is the one that makes the count.
    if on_link.new_client && on_link.clients == CLIENTS_TO_PAUSE_LINK {
        let reason = format!(
            "Paused automatically at {}: cards from {CLIENTS_TO_PAUSE_LINK} different clients were declined within {} \
             minutes, which looks like card testing. Activate the link again when you are ready.",
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            WINDOW.num_minutes()
        );
        tracing::warn!(link_id = %link, clients = on_link.clients, "link paused: suspected card testing");
        store.set_link_active(link, false, Some(&reason), now).await?;
    }
    Ok(())
}
