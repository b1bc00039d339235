//! The customer gives up: the session is cancelled, unless a charge already went through.

use super::pay::{Cashier, PayOutcome};
use crate::error::ApiError;
use crate::model::{CheckoutSession, SessionStatus};
use crate::store::{Counters, Links, Payments, Sessions};

/// How a cancel ended.
#[derive(Debug)]
pub enum Cancelled {
    /// Cancelled now or before: back to the merchant's `cancelUrl`.
    Cancelled(CheckoutSession),
    /// The session is paid: never let a paid customer believe they cancelled.
    AlreadyPaid(CheckoutSession),
}

impl<S: Sessions + Payments + Links + Counters + ?Sized> Cashier<'_, S> {
    /// Cancels the session `id` if it is pending and not being paid.
    pub async fn cancel(&self, id: &str) -> Result<Cancelled, ApiError> {
        let session = super::find_session(self.store, id).await?;
        let now = self.clock.now();
        // A lapsed attempt may have charged the card before its process died, or may still (3-D
        // Secure finishing in a tab left open): stop it and settle what it did first, so a cancel
        // never drops a payment that went through.
        if let Some(attempt) = session.in_flight.as_ref().filter(|a| a.lease_until <= now)
            && let Some(PayOutcome::Paid(paid)) = self.settle_before_cancelling(&session, attempt).await?
        {
            return Ok(Cancelled::AlreadyPaid(paid));
        }
        let session = self.store.cancel_session(&session.id, now).await?.ok_or(ApiError::SessionNotFound)?;
        match session.status {
            SessionStatus::Completed | SessionStatus::Refunded => Ok(Cancelled::AlreadyPaid(session)),
            _ => {
                // A hold the cancelled session still has (one renewed for 3-D Secure outlives the
                // attempt's lease) goes back now, not when it lapses. Best effort: it lapses anyway.
                if session.status == SessionStatus::Cancelled
                    && session.link_has_usage_limit
                    && let Err(error) = self.store.release_use(&session.link_id, &session.id).await
                {
                    tracing::warn!(session_id = %session.id, %error, "the cancelled session's hold lapses instead");
                }
                Ok(Cancelled::Cancelled(session))
            }
        }
    }
}
