//! Opening a link: every open creates a fresh checkout session. Opening never consumes a use
//! (link-preview bots open links too).

use chrono::{DateTime, Utc};

use super::find;
use crate::error::ApiError;
use crate::limits::count_per_minute;
use crate::model::CheckoutSession;
use crate::store::{Counters, Links, Sessions};

/// A new pending session on the link `id`, if the link can take a payment `now` and `client`
/// (its address, when known) has opened at most `opens_per_minute` this minute (0: no limit).
/// Every open writes a session, so an anonymous flood of opens is what could fill the store.
pub async fn open<S: Links + Sessions + Counters + ?Sized>(
    store: &S,
    id: &str,
    client: Option<&str>,
    opens_per_minute: u64,
    now: DateTime<Utc>,
) -> Result<CheckoutSession, ApiError> {
    let link = find(store, id).await?;
    link.availability(now).map_err(|reason| ApiError::LinkUnavailable(reason).branded(&link.checkout.appearance))?;
    if let Some(client) = client.filter(|_| opens_per_minute > 0) {
        count_per_minute(store, &format!("opens:client:{client}"), opens_per_minute, now).await?;
    }
    let session = CheckoutSession::open(&link, now);
    store.create_session(&session).await?;
    Ok(session)
}
