//! Opening a link: every open creates a fresh checkout session. Opening never consumes a use
//! (link-preview bots open links too).

use chrono::{DateTime, Utc};

use super::find;
use crate::error::ApiError;
use crate::model::CheckoutSession;
use crate::store::{Links, Sessions};

/// A new pending session on the link `id`, if the link can take a payment `now`.
pub async fn open(
    links: &dyn Links,
    sessions: &dyn Sessions,
    id: &str,
    now: DateTime<Utc>,
) -> Result<CheckoutSession, ApiError> {
    let link = find(links, id).await?;
    link.availability(now).map_err(ApiError::LinkUnavailable)?;
    let session = CheckoutSession::open(&link, now);
    sessions.create_session(&session).await?;
    Ok(session)
}
