//! Opening a link: every open creates a fresh checkout session. Opening never consumes a use
//! (link-preview bots open links too).

use chrono::{DateTime, TimeDelta, Utc};

use super::find;
use crate::clock::seconds_until;
use crate::error::ApiError;
use crate::model::{CheckoutSession, RateCounter};
use crate::store::{CounterLimit, Links, Sessions, StoreError};

/// A new pending session on the link `id`, if the link can take a payment `now` and `client`
/// (its address, when known) has opened fewer than `opens_per_minute` this minute (0: no
/// limit). Every open writes a session, so an anonymous flood of opens is what could fill the
/// store: the session and its count go in one decision, and an open over the limit writes
/// nothing. (Opens of unknown or unavailable links write nothing either, so they are not
/// counted.)
pub async fn open<S: Links + Sessions + ?Sized>(
    store: &S,
    id: &str,
    client: Option<&str>,
    opens_per_minute: u64,
    now: DateTime<Utc>,
) -> Result<CheckoutSession, ApiError> {
    let link = find(store, id).await?;
    link.availability(now).map_err(|reason| ApiError::LinkUnavailable(reason).branded(&link.checkout.appearance))?;
    let session = CheckoutSession::open(&link, now);
    let limit = client.filter(|_| opens_per_minute > 0).map(|client| CounterLimit {
        counter: RateCounter::in_window(&format!("opens:client:{client}"), now, TimeDelta::minutes(1)),
        limit: opens_per_minute,
    });
    let created = match &limit {
        None => store.create_session(&session).await.map(|()| true),
        Some(limit) => store.create_session_within(&session, limit).await,
    };
    match created {
        Ok(true) => Ok(session),
        // A fresh session id exists already only if this very write was applied and then sent
        // again (the SDK resends a request whose answer was lost): the session is written.
        Err(StoreError::Conflict(_)) => Ok(session),
        Ok(false) => {
            let window_end = limit.map_or(now, |limit| limit.counter.window_end);
            Err(ApiError::RateLimited(seconds_until(window_end, now)))
        }
        Err(error) => Err(error.into()),
    }
}
