//! Fault injection for tests: a store that fails chosen calls the way DynamoDB can fail.
//!
//! `Throttle` fails a call before it reaches the store (throttling, a refused connection);
//! `Ambiguous` lets the call reach the store and *then* fails it (a timeout after the write
//! committed: the caller cannot know whether it happened); `Resent` lets a create reach the
//! store and answers what sending it again would (the SDK resends a request whose answer was
//! lost, and the retry finds the item the first one made: `Conflict`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    AttemptEnd, BeginAttempt, ChargeLedger, ClaimUse, ClientCount, CompletePayment, CounterLimit, Counters, EventPage,
    Events, Idempotency, IdempotentCreate, LinkPage, Links, Merchants, Payments, Sessions, Store, StoreError, Webhooks,
};
use crate::model::ChargeRecord;
use crate::model::{
    CheckoutSession, DeclineReason, Event, EventId, EventType, IdempotencyRecord, LinkId, Merchant, PaymentAttempt,
    PaymentLink, PaymentResult, SessionId, WebhookEndpoint, WebhookEndpointId,
};
use crate::money::MinorUnits;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    Ambiguous,
    /// For creates: applied, then `Conflict` (see the module's doc).
    Resent,
}

/// Which calls fail: none, one (by number, counting from 0), or every one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Healthy,
    Call(usize, Fault),
    Always(Fault),
}

pub struct FaultyStore {
    inner: Arc<dyn Store>,
    calls: AtomicUsize,
    plan: std::sync::Mutex<Plan>,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        FaultyStore { inner, calls: AtomicUsize::new(0), plan: std::sync::Mutex::new(Plan::Healthy) }
    }

    /// A store every call of which fails with `fault`.
    pub fn always(inner: Arc<dyn Store>, fault: Fault) -> Self {
        let store = Self::new(inner);
        *store.plan.lock().unwrap_or_else(|p| p.into_inner()) = Plan::Always(fault);
        store
    }

    /// Fails the `n`th call from now (0 = the next one) with `fault`.
    pub fn fail_call(&self, n: usize, fault: Fault) {
        let from = self.calls.load(Ordering::SeqCst);
        *self.plan.lock().unwrap_or_else(|p| p.into_inner()) = Plan::Call(from + n, fault);
    }

    pub fn heal(&self) {
        *self.plan.lock().unwrap_or_else(|p| p.into_inner()) = Plan::Healthy;
    }

    /// Calls made so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    async fn run<T>(&self, call: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        let number = self.calls.fetch_add(1, Ordering::SeqCst);
        let fault = match *self.plan.lock().unwrap_or_else(|p| p.into_inner()) {
            Plan::Healthy => None,
            Plan::Call(n, fault) => (n == number).then_some(fault),
            Plan::Always(fault) => Some(fault),
        };
        match fault {
            None => call.await,
            Some(Fault::Throttle) => Err(StoreError::Unavailable("injected: throttled".into())),
            Some(Fault::Ambiguous) => {
                let _ = call.await;
                Err(StoreError::Unavailable("injected: timed out after the call reached the store".into()))
            }
            Some(Fault::Resent) => {
                let _ = call.await;
                Err(StoreError::Conflict("injected: sent again after it was applied"))
            }
        }
    }
}

#[async_trait]
impl Merchants for FaultyStore {
    async fn create_merchant(&self, merchant: &Merchant) -> Result<(), StoreError> {
        self.run(self.inner.create_merchant(merchant)).await
    }

    async fn find_merchant_by_key(&self, hash: &str) -> Result<Option<Merchant>, StoreError> {
        self.run(self.inner.find_merchant_by_key(hash)).await
    }
}

#[async_trait]
impl Links for FaultyStore {
    async fn create_link(&self, link: &PaymentLink) -> Result<(), StoreError> {
        self.run(self.inner.create_link(link)).await
    }

    async fn get_link(&self, id: &LinkId) -> Result<Option<PaymentLink>, StoreError> {
        self.run(self.inner.get_link(id)).await
    }

    async fn set_link_active(
        &self,
        id: &LinkId,
        active: bool,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<PaymentLink>, StoreError> {
        self.run(self.inner.set_link_active(id, active, reason, now)).await
    }

    async fn block_payments(&self, id: &LinkId, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.run(self.inner.block_payments(id, until)).await
    }

    async fn list_links(&self, merchant: &str, limit: usize, before: Option<&LinkId>) -> Result<LinkPage, StoreError> {
        self.run(self.inner.list_links(merchant, limit, before)).await
    }
}

#[async_trait]
impl Idempotency for FaultyStore {
    async fn create_link_idempotent(
        &self,
        link: &PaymentLink,
        record: &IdempotencyRecord,
        now: DateTime<Utc>,
    ) -> Result<IdempotentCreate, StoreError> {
        self.run(self.inner.create_link_idempotent(link, record, now)).await
    }
}

#[async_trait]
impl Sessions for FaultyStore {
    async fn create_session(&self, session: &CheckoutSession) -> Result<(), StoreError> {
        self.run(self.inner.create_session(session)).await
    }

    async fn create_session_within(&self, session: &CheckoutSession, limit: &CounterLimit) -> Result<bool, StoreError> {
        self.run(self.inner.create_session_within(session, limit)).await
    }

    async fn get_session(&self, id: &SessionId) -> Result<Option<CheckoutSession>, StoreError> {
        self.run(self.inner.get_session(id)).await
    }

    async fn cancel_session(
        &self,
        session: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<CheckoutSession>, StoreError> {
        self.run(self.inner.cancel_session(session, now)).await
    }

    async fn mark_refunded(
        &self,
        session: &SessionId,
        transaction_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<CheckoutSession>, StoreError> {
        self.run(self.inner.mark_refunded(session, transaction_id, now)).await
    }
}

#[async_trait]
impl Payments for FaultyStore {
    async fn begin_attempt(
        &self,
        session: &SessionId,
        amount: MinorUnits,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<BeginAttempt, StoreError> {
        self.run(self.inner.begin_attempt(session, amount, now, lease_until)).await
    }

    async fn begin_attempt_on(
        &self,
        session: &CheckoutSession,
        amount: MinorUnits,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limits: &[CounterLimit],
    ) -> Result<BeginAttempt, StoreError> {
        self.run(self.inner.begin_attempt_on(session, amount, now, lease_until, limits)).await
    }

    async fn claim_use(
        &self,
        link: &LinkId,
        session: &SessionId,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
    ) -> Result<ClaimUse, StoreError> {
        self.run(self.inner.claim_use(link, session, now, hold_until)).await
    }

    async fn release_use(&self, link: &LinkId, session: &SessionId) -> Result<(), StoreError> {
        self.run(self.inner.release_use(link, session)).await
    }

    async fn renew_hold(
        &self,
        link: &LinkId,
        session: &SessionId,
        hold_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.run(self.inner.renew_hold(link, session, hold_until)).await
    }

    async fn complete_payment(
        &self,
        session: &SessionId,
        attempt: u32,
        link: &LinkId,
        result: &PaymentResult,
    ) -> Result<CompletePayment, StoreError> {
        self.run(self.inner.complete_payment(session, attempt, link, result)).await
    }

    // Forwarded, not left to the trait's default: the inner store's own version (DynamoDB's
    // completion without a re-read) is what runs in production.
    async fn complete_payment_on(
        &self,
        session: &CheckoutSession,
        attempt: &PaymentAttempt,
        link: Option<&PaymentLink>,
        result: &PaymentResult,
    ) -> Result<CompletePayment, StoreError> {
        self.run(self.inner.complete_payment_on(session, attempt, link, result)).await
    }

    async fn begin_attempt_checking_link(
        &self,
        session: &CheckoutSession,
        amount: MinorUnits,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limits: &[CounterLimit],
    ) -> Result<BeginAttempt, StoreError> {
        self.run(self.inner.begin_attempt_checking_link(session, amount, now, lease_until, limits)).await
    }

    async fn decline_attempt(
        &self,
        session: &CheckoutSession,
        attempt: u32,
        reason: DeclineReason,
    ) -> Result<bool, StoreError> {
        self.run(self.inner.decline_attempt(session, attempt, reason)).await
    }

    async fn end_attempt(
        &self,
        session: &SessionId,
        attempt: &PaymentAttempt,
        end: AttemptEnd,
    ) -> Result<(), StoreError> {
        self.run(self.inner.end_attempt(session, attempt, end)).await
    }
}

#[async_trait]
impl ChargeLedger for FaultyStore {
    async fn record_charge(&self, record: &ChargeRecord) -> Result<ChargeRecord, StoreError> {
        self.run(self.inner.record_charge(record)).await
    }

    async fn void_charge(&self, key: &str) -> Result<(), StoreError> {
        self.run(self.inner.void_charge(key)).await
    }

    async fn get_charge(&self, key: &str) -> Result<Option<ChargeRecord>, StoreError> {
        self.run(self.inner.get_charge(key)).await
    }
}

#[async_trait]
impl Counters for FaultyStore {
    async fn increment_counter(&self, name: &str, window_end: DateTime<Utc>) -> Result<u64, StoreError> {
        self.run(self.inner.increment_counter(name, window_end)).await
    }

    async fn count_client(
        &self,
        name: &str,
        client: Option<&str>,
        window_end: DateTime<Utc>,
    ) -> Result<ClientCount, StoreError> {
        self.run(self.inner.count_client(name, client, window_end)).await
    }

    async fn read_counter(&self, name: &str) -> Result<u64, StoreError> {
        self.run(self.inner.read_counter(name)).await
    }
}

#[async_trait]
impl Events for FaultyStore {
    async fn list_events(
        &self,
        merchant_id: &str,
        kind: Option<EventType>,
        limit: usize,
        before: Option<&EventId>,
        now: DateTime<Utc>,
    ) -> Result<EventPage, StoreError> {
        self.run(self.inner.list_events(merchant_id, kind, limit, before, now)).await
    }
}

#[async_trait]
impl Webhooks for FaultyStore {
    async fn webhook_endpoints(&self, merchant_id: &str) -> Result<Vec<WebhookEndpoint>, StoreError> {
        self.run(self.inner.webhook_endpoints(merchant_id)).await
    }

    async fn add_webhook_endpoint(&self, merchant_id: &str, endpoint: &WebhookEndpoint) -> Result<bool, StoreError> {
        self.run(self.inner.add_webhook_endpoint(merchant_id, endpoint)).await
    }

    async fn remove_webhook_endpoint(&self, merchant_id: &str, id: &WebhookEndpointId) -> Result<bool, StoreError> {
        self.run(self.inner.remove_webhook_endpoint(merchant_id, id)).await
    }

    async fn replace_webhook_endpoint(
        &self,
        merchant_id: &str,
        endpoint: &WebhookEndpoint,
    ) -> Result<bool, StoreError> {
        self.run(self.inner.replace_webhook_endpoint(merchant_id, endpoint)).await
    }

    async fn record_webhook_endpoint_health(
        &self,
        merchant_id: &str,
        endpoint: &WebhookEndpoint,
    ) -> Result<bool, StoreError> {
        self.run(self.inner.record_webhook_endpoint_health(merchant_id, endpoint)).await
    }

    async fn due_events(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.run(self.inner.due_events(now, limit)).await
    }

    async fn record_deliveries(&self, event: &Event) -> Result<bool, StoreError> {
        self.run(self.inner.record_deliveries(event)).await
    }

    async fn get_event(&self, id: &EventId) -> Result<Option<Event>, StoreError> {
        self.run(self.inner.get_event(id)).await
    }
}
