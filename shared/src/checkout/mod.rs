//! The hosted checkout: finding a session, paying it (cards, the processor, the card-testing
//! guard, where the customer goes next) and cancelling it. No HTTP here.

mod cancel;
pub mod card;
pub mod guard;
pub mod pay;
pub mod processor;
pub mod redirect;
#[cfg(feature = "stripe")]
mod reported;
#[cfg(feature = "stripe")]
pub mod stripe;
pub mod stripe_amounts;

pub use cancel::Cancelled;
pub use pay::{Cashier, PayForm, PayOutcome};

use crate::error::ApiError;
use crate::model::{Cart, CheckoutSession, Item, Merchant, SessionId};
use crate::store::{Links, Sessions};

/// The session with this id; a malformed id is simply not found.
pub async fn find_session(sessions: &(impl Sessions + ?Sized), id: &str) -> Result<CheckoutSession, ApiError> {
    sessions.get_session(&session_id(id)?).await?.ok_or(ApiError::SessionNotFound)
}

/// The lines of `session`'s cart, for its page: read from its link, which fixed them, when
/// the session keeps only the total (`Checkout::for_session`); none for carts without lines.
pub async fn cart_items(links: &(impl Links + ?Sized), session: &CheckoutSession) -> Result<Vec<Item>, ApiError> {
    match &session.checkout.cart {
        Cart::ItemsOnLink { .. } => match links.get_link(&session.link_id).await?.map(|link| link.checkout.cart) {
            Some(Cart::Items { items, .. }) => Ok(items),
            _ => Err(ApiError::Internal(format!(
                "the items of session {} are not on link {}",
                session.id, session.link_id
            ))),
        },
        // A session stored while sessions still copied the items.
        Cart::Items { items, .. } => Ok(items.clone()),
        Cart::Amount { .. } | Cart::Donation { .. } => Ok(Vec::new()),
    }
}

/// A session id from a path: a malformed one names no session.
fn session_id(id: &str) -> Result<SessionId, ApiError> {
    id.parse().map_err(|_| ApiError::SessionNotFound)
}

/// The session with this id if it is one of `merchant`'s: another merchant's session does
/// not exist, as far as this caller can tell.
pub async fn find_own_session(
    sessions: &(impl Sessions + ?Sized),
    merchant: &Merchant,
    id: &str,
) -> Result<CheckoutSession, ApiError> {
    let session = find_session(sessions, id).await?;
    if session.merchant_id == merchant.id { Ok(session) } else { Err(ApiError::SessionNotFound) }
}

#[cfg(test)]
mod tests;
