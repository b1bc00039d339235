//! What the processor reports by itself (Stripe's webhooks): a payment decided while the
//! customer's page was gone (3-D Secure finished, then the tab closed) is settled as if the page
//! had posted it back. Every change goes through the same conditional writes as a pay, so an
//! event and the page racing each other count the use once.

use super::Cashier;
use super::processor::{ProcessorError, ProcessorPayment};
use super::stripe::webhook::Event;
use crate::error::ApiError;
use crate::model::{SessionId, SessionStatus};
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
            // A refund in full (from Stripe's dashboard, or ours when a use could not be kept):
            // the session says so. Partial refunds stay Stripe's to show.
            "charge.refunded" if event.data.object.refunded => {
                self.mark_refunded(payment_intent, event.account.as_deref()).await?;
            }
            "charge.refunded" => tracing::info!(payment_intent, "charge partly refunded at Stripe"),
            _ => self.settle(payment_intent, event.account.as_deref()).await?,
        }
        self.store.increment_counter(&seen, self.clock.now() + EVENT_MEMORY).await?;
        Ok(())
    }

    /// The payment decided (3-D Secure finished in a tab that never came back, or a failure):
    /// the attempt it belongs to is decided as if the page had posted it. A session already
    /// decided, or an attempt already over, is left as it is.
    async fn settle(&self, payment_intent: &str, account: Option<&str>) -> Result<(), ApiError> {
        let Some(payment) = self.reported_payment(payment_intent, account).await? else { return Ok(()) };
        let Ok(session) = super::find_session(self.store, &payment.session_id).await else { return Ok(()) };
        // A PaymentIntent names its session in metadata that whoever makes one writes: with
        // Connect, any account on the platform. Only the account the session pays into, for the
        // amount its attempt charges, can decide it.
        if account != session.checkout.stripe_account.as_deref() {
            tracing::warn!(payment_intent, account, "reported payment is on another account than its session's");
            return Ok(());
        }
        match session.in_flight.clone() {
            Some(attempt) if attempt.number == payment.attempt && session.status == SessionStatus::Pending => {
                if attempt.amount != payment.amount {
                    tracing::warn!(payment_intent, "reported payment is for another amount than its attempt's");
                    return Ok(());
                }
                self.act_on(session, &attempt, payment.charged, None, None).await.map(|_| ())
            }
            _ => Ok(()),
        }
    }

    /// The session paid by `payment_intent` (by its metadata at Stripe), marked refunded.
    async fn mark_refunded(&self, payment_intent: &str, account: Option<&str>) -> Result<(), ApiError> {
        let Some(payment) = self.reported_payment(payment_intent, account).await? else { return Ok(()) };
        let Ok(session) = payment.session_id.parse::<SessionId>() else { return Ok(()) };
        self.store.mark_refunded(&session, payment_intent, self.clock.now()).await?;
        Ok(())
    }

    /// What the processor says of a payment an event names; None when it is not one of ours
    /// (nothing to change); an error when the processor cannot be asked (Stripe retries).
    async fn reported_payment(
        &self,
        payment_intent: &str,
        account: Option<&str>,
    ) -> Result<Option<ProcessorPayment>, ApiError> {
        match self.processor.payment(payment_intent, account).await {
            Ok(payment) => Ok(Some(payment)),
            // Stripe retries its event; the log says it was Stripe, not us.
            Err(ProcessorError::Unavailable(detail)) => {
                tracing::warn!(payment_intent, detail, "processor unreachable");
                Err(ApiError::ProcessorUnavailable)
            }
            Err(ProcessorError::Processing(detail) | ProcessorError::AmountRefused(detail)) => {
                tracing::warn!(payment_intent, detail, "reported payment is not one of ours");
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use crate::checkout::Cashier;
    use crate::checkout::pay::{PayForm, PayOutcome};
    use crate::checkout::processor::{Charged, ProcessorPayment, ReportingProcessor};
    use crate::checkout::stripe::webhook::Event;
    use crate::model::{Cart, ChargeOutcome, CheckoutSession, PaymentAttempt, PaymentLink, SessionId, SessionStatus};
    use crate::money::MinorUnits;
    use crate::store::BeginAttempt;
    use crate::test_support::{TestApp, TestMerchant, shop_checkout};

    const MERCHANT: TestMerchant =
        TestMerchant { id: "m_reported", name: "Reported", vault_key: "vk_reported", merchant_key: "mk_reported" };

    fn succeeded(id: &str, account: Option<&str>) -> Event {
        let event = serde_json::json!({ "id": id, "type": "payment_intent.succeeded", "account": account,
                                        "data": { "object": { "id": "pi_reported" } } });
        serde_json::from_value(event).unwrap()
    }

    /// Stripe's `event` handled by a cashier whose processor reports `payment`: the session's status after.
    async fn settle(h: &TestApp, session: &SessionId, event: Event, payment: ProcessorPayment) -> SessionStatus {
        let processor = ReportingProcessor::new(h.app.store.clone(), payment);
        let cashier = Cashier { store: h.app.store.as_ref(), processor: &processor, clock: h.app.clock.as_ref() };
        cashier.on_stripe_event(&event).await.unwrap();
        h.app.store.get_session(session).await.unwrap().unwrap().status
    }

    #[tokio::test]
    async fn only_the_sessions_own_account_reporting_its_attempts_amount_completes_it() {
        let h = TestApp::embedded(MERCHANT, Utc::now()).await;
        let mut checkout = shop_checkout(Cart::Amount { amount: MinorUnits(5000) });
        checkout.stripe_account = Some("acct_merchant".to_owned());
        let link = PaymentLink::new(MERCHANT.id, checkout, None, 7, h.app.now());
        h.app.store.create_link(&link).await.unwrap();
        let session = CheckoutSession::open(&link, h.app.now());
        h.app.store.create_session(&session).await.unwrap();
        let now = h.app.now();
        let begun = h.app.store.begin_attempt(&session.id, MinorUnits(5000), now, now + PaymentAttempt::LEASE).await;
        assert!(matches!(begun, Ok(BeginAttempt::Started(_))), "{begun:?}");

        let reported = |amount: i64| ProcessorPayment {
            session_id: session.id.to_string(),
            attempt: 1,
            amount: MinorUnits(amount),
            charged: Charged::Decided(ChargeOutcome::Approved {
                transaction_id: "pi_reported".into(),
                card_brand: "Visa".into(),
                card_last_four: "4242".into(),
            }),
        };
        // Another account of the platform, naming this session in its PaymentIntent's metadata.
        assert_eq!(
            settle(&h, &session.id, succeeded("evt_1", Some("acct_other")), reported(5000)).await,
            SessionStatus::Pending
        );
        // The platform's own account, for a session paying into a connected one.
        assert_eq!(settle(&h, &session.id, succeeded("evt_2", None), reported(5000)).await, SessionStatus::Pending);
        // The right account, another amount.
        assert_eq!(
            settle(&h, &session.id, succeeded("evt_3", Some("acct_merchant")), reported(1)).await,
            SessionStatus::Pending
        );
        assert_eq!(
            settle(&h, &session.id, succeeded("evt_4", Some("acct_merchant")), reported(5000)).await,
            SessionStatus::Completed
        );
    }

    /// The customer finishes 3-D Secure after the session's 30 minutes ran out: the page posts
    /// the PaymentIntent back and the customer is shown the payment the bank approved (as
    /// Stripe's webhook would settle it), not "closed".
    #[tokio::test]
    async fn back_from_3d_secure_after_the_session_ran_out_an_approved_payment_completes_it() {
        let h = TestApp::embedded(MERCHANT, Utc::now()).await;
        let link = PaymentLink::new(
            MERCHANT.id,
            shop_checkout(Cart::Amount { amount: MinorUnits(5000) }),
            None,
            7,
            h.app.now(),
        );
        h.app.store.create_link(&link).await.unwrap();
        let (in_flight, idle) = (CheckoutSession::open(&link, h.app.now()), CheckoutSession::open(&link, h.app.now()));
        for session in [&in_flight, &idle] {
            h.app.store.create_session(session).await.unwrap();
        }
        let now = h.app.now();
        let begun = h.app.store.begin_attempt(&in_flight.id, MinorUnits(5000), now, now + PaymentAttempt::LEASE).await;
        assert!(matches!(begun, Ok(BeginAttempt::Started(_))), "{begun:?}");
        h.clock.advance(CheckoutSession::LIFETIME + chrono::TimeDelta::seconds(30));

        let approved = ProcessorPayment {
            session_id: in_flight.id.to_string(),
            attempt: 1,
            amount: MinorUnits(5000),
            charged: Charged::Decided(ChargeOutcome::Approved {
                transaction_id: "pi_reported".into(),
                card_brand: "Visa".into(),
                card_last_four: "4242".into(),
            }),
        };
        let processor = ReportingProcessor::new(h.app.store.clone(), approved).with_stripe_js();
        let cashier = Cashier { store: h.app.store.as_ref(), processor: &processor, clock: h.app.clock.as_ref() };
        let back = |session: &CheckoutSession| PayForm {
            payment_intent: "pi_reported".into(),
            form_token: session.form_token.clone(),
            ..PayForm::default()
        };
        let outcome = cashier.pay(in_flight.id.as_str(), &back(&in_flight), None).await.unwrap();
        assert!(matches!(outcome, PayOutcome::Paid(_)), "{outcome:?}");
        let stored = h.app.store.get_session(&in_flight.id).await.unwrap().unwrap();
        assert_eq!(stored.status, SessionStatus::Completed);
        // A session that ran out with no attempt in flight stays closed, whatever is posted.
        let outcome = cashier.pay(idle.id.as_str(), &back(&idle), None).await.unwrap();
        assert!(matches!(outcome, PayOutcome::Closed(_)), "{outcome:?}");
    }
}
