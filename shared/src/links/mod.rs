//! What a merchant does with links, and what opening one does: create, read, list, switch on
//! and off, open. No HTTP here: each function takes typed input and only the store
//! capabilities it uses, and returns the link (or session) or an `ApiError` with its code.

mod create;
mod list;
mod open;

pub use create::create;
pub use list::list;
pub use open::open;

use crate::error::ApiError;
use crate::model::{LinkId, Merchant, PaymentLink};
use crate::store::Links;

/// The link with this id; a malformed id is simply not found.
pub async fn find(links: &(impl Links + ?Sized), id: &str) -> Result<PaymentLink, ApiError> {
    let id = id.parse::<LinkId>().map_err(|_| ApiError::LinkNotFound)?;
    links.get_link(&id).await?.ok_or(ApiError::LinkNotFound)
}

/// The link with this id if it belongs to `merchant`. Another merchant's link is "not found":
/// an id's existence is not confirmed to strangers.
pub async fn find_own(links: &dyn Links, merchant: &Merchant, id: &str) -> Result<PaymentLink, ApiError> {
    let link = find(links, id).await?;
    if link.merchant_id == merchant.id { Ok(link) } else { Err(ApiError::LinkNotFound) }
}

/// Switches one of `merchant`'s links on or off, at once: a deactivated link opens no new
/// sessions, and pays on open sessions are refused uncharged. Switching on clears a pause.
pub async fn set_active(
    links: &dyn Links,
    merchant: &Merchant,
    id: &str,
    active: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<PaymentLink, ApiError> {
    let link = find_own(links, merchant, id).await?;
    links.set_link_active(&link.id, active, None, now).await?.ok_or(ApiError::LinkNotFound)
}
