//! What the processor reports by itself (Stripe's webhooks): a payment decided while the
//! customer's page was gone (3-D Secure finished, then the tab closed) is settled as if the page
//! had posted it back. Every change goes through the same conditional writes as a pay, so an
//! event and the page racing each other count the use once.

use super::Cashier;
use super::stripe::webhook::Event;
use crate::error::ApiError;
use crate::store::{Counters, Links, Payments, Sessions};

/// How long an event id is remembered: Stripe retries a delivery for up to three days.
const EVENT_MEMORY: chrono::TimeDelta = chrono::TimeDelta::days(4);

impl<S: Sessions + Payments + Links + Counters + ?Sized> Cashier<'_, S> {
    /// Acts on one of Stripe's events, once per event id; events about anything but our
    /// PaymentIntents are acknowledged and ignored.
    pub async fn on_stripe_event(&self, event: &Event) -> Result<(), ApiError> {
        let Some(payment_intent) = event.payment_intent() else { return Ok(()) };
        // A counter per event id: read before acting, counted after, so an event whose handling
        // failed is handled again when Stripe retries it (handling twice changes nothing).
        let seen = format!("stripe-event:{}", event.id);
        if self.store.read_counter(&seen).await? > 0 {
            return Ok(());
        }
        match event.kind.as_str() {
            "charge.refunded" => {
                // Refunds made in Stripe's dashboard: shown by Stripe; not tracked here yet.
                tracing::info!(payment_intent, "charge refunded at Stripe");
            }
            _ => self.settle_reported_payment(payment_intent, event.account.as_deref()).await?,
        }
        self.store.increment_counter(&seen, self.clock.now() + EVENT_MEMORY).await?;
        Ok(())
    }
}
