//! Persistence as small capability traits (merchants, links, idempotency, sessions, payments,
//! the charge ledger, counters), `Store` their sum. Two implementations, DynamoDB and an
//! embedded file store, pass the same contract suite.

use async_trait::async_trait;

use chrono::{DateTime, Utc};

use crate::model::{
    ChargeRecord, CheckoutSession, DeclineReason, Event, EventId, EventType, FailureCode, IdempotencyRecord, LinkId,
    Merchant, PaymentAttempt, PaymentLink, PaymentResult, RateCounter, SessionId, Unavailable, WebhookEndpoint,
    WebhookEndpointId,
};
use crate::money::MinorUnits;

#[cfg(test)]
pub(crate) mod contract;
pub mod dynamo;
#[cfg(feature = "embedded")]
pub mod embedded;
#[cfg(any(test, feature = "test-support"))]
pub mod faulty;
pub mod retention;

pub use retention::{RETENTION_AFTER_EXPIRY, UNPAID_SESSION_RETENTION};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write's condition did not hold: the item exists already, or changed under us.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Throttled, timed out or unreachable: the client should retry (503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Data we cannot read back: a bug, logged and answered 500.
    #[error("corrupt item {key}: {detail}")]
    Corrupt { key: String, detail: String },
}

/// Every capability together: what `App` holds. Code that needs only some takes only those
/// (`&dyn Links`, `&dyn Payments`…), so its signature shows what it touches and so which IAM
/// actions its function needs.
pub trait Store:
    Merchants + Links + Idempotency + Sessions + Payments + ChargeLedger + Counters + Events + Webhooks
{
}

impl<T: Merchants + Links + Idempotency + Sessions + Payments + ChargeLedger + Counters + Events + Webhooks + ?Sized>
    Store for T
{
}

/// Merchant accounts and the lookup of their keys (by hash).
#[async_trait]
pub trait Merchants: Send + Sync {
    /// Creates a merchant and the lookup of its key; `Conflict` if the id or key exists.
    async fn create_merchant(&self, merchant: &Merchant) -> Result<(), StoreError>;

    /// The merchant holding the merchant key with this SHA-256 hash.
    async fn find_merchant_by_key(&self, merchant_key_hash: &str) -> Result<Option<Merchant>, StoreError>;
}

/// Payment links: created once, read strongly consistent, switched on and off, listed.
#[async_trait]
pub trait Links: Send + Sync {
    /// Stores a new link; `Conflict` if the id exists (never overwrites).
    async fn create_link(&self, link: &PaymentLink) -> Result<(), StoreError>;

    /// Strongly consistent read of a link.
    async fn get_link(&self, id: &LinkId) -> Result<Option<PaymentLink>, StoreError>;

    /// Switches a link on or off, recording why when the service itself paused it (switching
    /// on clears the reason, and a card-testing block with it); returns the link as it now is,
    /// None if it does not exist. Switching off an active link writes its
    /// `payment_link.deactivated` event (at `now`) with it.
    async fn set_link_active(
        &self,
        id: &LinkId,
        active: bool,
        pause_reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<PaymentLink>, StoreError>;

    /// Refuses pays on the link until `until` (card testing: see `checkout::guard`); a block
    /// lasting longer already stays as it is. Nothing happens to a link that does not exist.
    async fn block_payments(&self, id: &LinkId, until: DateTime<Utc>) -> Result<(), StoreError>;

    /// A merchant's links, newest first: at most `limit`, strictly older than `before`.
    async fn list_links(
        &self,
        merchant_id: &str,
        limit: usize,
        before: Option<&LinkId>,
    ) -> Result<LinkPage, StoreError>;
}

/// Creates that happen once per merchant `Idempotency-Key`.
#[async_trait]
pub trait Idempotency: Send + Sync {
    /// Stores a new link together with the idempotency record that names it, atomically;
    /// or, if an unexpired record with the same merchant and key exists, stores nothing and
    /// returns that record (the original request's).
    async fn create_link_idempotent(
        &self,
        link: &PaymentLink,
        record: &IdempotencyRecord,
        now: DateTime<Utc>,
    ) -> Result<IdempotentCreate, StoreError>;
}

/// Checkout sessions: one per open of a link.
#[async_trait]
pub trait Sessions: Send + Sync {
    /// Stores a new session; `Conflict` if the id exists.
    async fn create_session(&self, session: &CheckoutSession) -> Result<(), StoreError>;

    /// `create_session` only while `limit`'s counter is below its limit, counting one on it in
    /// the same decision: false, with nothing written, when the counter is full.
    async fn create_session_within(&self, session: &CheckoutSession, limit: &CounterLimit) -> Result<bool, StoreError>;

    /// Strongly consistent read of a session.
    async fn get_session(&self, id: &SessionId) -> Result<Option<CheckoutSession>, StoreError>;

    /// Cancels a pending session that is not being paid. Returns the session as it now is.
    async fn cancel_session(
        &self,
        session: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<CheckoutSession>, StoreError>;

    /// Marks a completed session `refunded` when its payment is `transaction_id` (the
    /// processor refunded it in full). Returns the session as it now is.
    async fn mark_refunded(
        &self,
        session: &SessionId,
        transaction_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<CheckoutSession>, StoreError>;
}

/// Paying: each call is one atomic decision (a conditional write or transaction) over a
/// session and its link's uses.
#[async_trait]
pub trait Payments: Send + Sync {
    /// Starts a payment attempt on a session that is pending, unexpired at `now` and not being
    /// paid: `attempts += 1`, `in_flight = {attempts, amount, lease_until}`. An attempt whose
    /// lease has lapsed (its process died) is taken over with its number and amount unchanged,
    /// so the processor sees the same idempotency key.
    async fn begin_attempt(
        &self,
        session: &SessionId,
        amount: MinorUnits,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<BeginAttempt, StoreError>;

    /// `begin_attempt` on a session the caller has just read with `get_session`: a store may
    /// decide from that copy instead of reading the session again (the write's condition still
    /// checks it is current, and a refused write brings the current session back). A new attempt
    /// begins only within every one of `limits`, counting on each of their counters in the same
    /// decision (`TooManyAttempts` with the window of a full one otherwise, nothing written); a
    /// taken-over attempt counted when it began.
    async fn begin_attempt_on(
        &self,
        session: &CheckoutSession,
        amount: MinorUnits,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limits: &[CounterLimit],
    ) -> Result<BeginAttempt, StoreError>;

    /// Holds one use of a link for `session` until `hold_until`. Refused when the link is
    /// blocked, inactive or expired at `now` (see [`LinkRefusal::before_limit`]), or when
    /// `reserved` has reached `usage_limit` after lapsed holds are returned. Holding again (a
    /// takeover) only renews the hold. Links without a limit hold nothing; they are only
    /// checked. A claim brings the link back as it left it, for `complete_payment_on`.
    async fn claim_use(
        &self,
        link: &LinkId,
        session: &SessionId,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
    ) -> Result<ClaimUse, StoreError>;

    /// Gives back the use `session` holds, if it still holds one.
    async fn release_use(&self, link: &LinkId, session: &SessionId) -> Result<(), StoreError>;

    /// Moves the end of the hold `session` has on a use of `link` to `hold_until`, whatever
    /// the link's state: the use is already the session's. False when it holds none (any more),
    /// and then nothing is written.
    async fn renew_hold(
        &self,
        link: &LinkId,
        session: &SessionId,
        hold_until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Atomically: the link counts a completed payment (`used += 1`, the session's hold
    /// becomes the use; if the hold had lapsed, a free use is taken instead) and the session
    /// becomes `completed` with `result`, provided it is still pending with attempt `attempt`
    /// in flight; the counts the attempt took on its counters are given back.
    async fn complete_payment(
        &self,
        session: &SessionId,
        attempt: u32,
        link: &LinkId,
        result: &PaymentResult,
    ) -> Result<CompletePayment, StoreError>;

    /// `complete_payment` of `session` (as the caller read it) and its `attempt` (as begun), with
    /// its link as the caller last saw it when it has it (the link `claim_use` brought back): a
    /// store may decide from those copies instead of reading again — its conditions still check
    /// the link is as the copy says, and a refusal decides again from the link as stored. A link
    /// without a usage limit needs no copy: nothing of it decides how the payment counts.
    async fn complete_payment_on(
        &self,
        session: &CheckoutSession,
        attempt: &PaymentAttempt,
        _link: Option<&PaymentLink>,
        result: &PaymentResult,
    ) -> Result<CompletePayment, StoreError> {
        self.complete_payment(&session.id, attempt.number, &session.link_id, result).await
    }

    /// `begin_attempt_on` for a session of a link without a usage limit, where no use is held:
    /// in the same decision, the link must take payments at `now` (not blocked, switched off or
    /// expired: [`LinkRefusal::before_limit`]); otherwise nothing is written and `LinkRefused`
    /// says why. A session that cannot start an attempt says so first.
    async fn begin_attempt_checking_link(
        &self,
        session: &CheckoutSession,
        amount: MinorUnits,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limits: &[CounterLimit],
    ) -> Result<BeginAttempt, StoreError>;

    /// Ends declined attempt `attempt` of `session` in one decision: the session stays pending
    /// for another try with `reason` as its `last_decline`, and the use it holds on its link (a
    /// link with a usage limit) is given back. The counts the attempt took on its counters stay:
    /// a decline is what it counts. An attempt that is over already stays as it is, and so does
    /// the hold (holds are the session's: it may be a newer attempt's). True when this call
    /// ended the attempt: of a page's post and Stripe's event reporting one decline together,
    /// only one counts it.
    async fn decline_attempt(
        &self,
        session: &CheckoutSession,
        attempt: u32,
        reason: DeclineReason,
    ) -> Result<bool, StoreError>;

    /// Ends `attempt` without a payment and gives back the counts it took on its counters (nothing
    /// the processor declined: refused, voided or failed): on `Declined` the session stays
    /// pending for another try; on `Failed` it becomes `failed` with `failure_code`. An attempt
    /// that is over already stays as it is.
    async fn end_attempt(
        &self,
        session: &SessionId,
        attempt: &PaymentAttempt,
        end: AttemptEnd,
    ) -> Result<(), StoreError>;
}

/// The sandbox processor's record of charges, one per idempotency key, as a real provider keeps.
#[async_trait]
pub trait ChargeLedger: Send + Sync {
    /// The sandbox processor's idempotency record: stores `record` unless a record with its
    /// key exists, and returns whichever record is stored.
    async fn record_charge(&self, record: &ChargeRecord) -> Result<ChargeRecord, StoreError>;

    /// Marks a recorded charge voided (refunded before settlement).
    async fn void_charge(&self, idempotency_key: &str) -> Result<(), StoreError>;

    /// The processor's record of a charge, if any.
    async fn get_charge(&self, idempotency_key: &str) -> Result<Option<ChargeRecord>, StoreError>;
}

/// The events merchants are told about. They are written by the changes they report
/// (`complete_payment`, `mark_refunded`), inside the same atomic decision; this reads them.
#[async_trait]
pub trait Events: Send + Sync {
    /// A merchant's events of the last 30 days, newest first: at most `limit`, strictly older
    /// than `before`, only of `kind` when given (the page is filled with that kind).
    async fn list_events(
        &self,
        merchant_id: &str,
        kind: Option<EventType>,
        limit: usize,
        before: Option<&EventId>,
        now: DateTime<Utc>,
    ) -> Result<EventPage, StoreError>;
}

/// Merchants' webhook endpoints, and the deliveries of events to them (the outbox: every
/// event is written due, and stays due until each endpoint has it or gave up).
#[async_trait]
pub trait Webhooks: Send + Sync {
    /// The merchant's endpoints, oldest first (a strongly consistent read).
    async fn webhook_endpoints(&self, merchant_id: &str) -> Result<Vec<WebhookEndpoint>, StoreError>;

    /// Adds an endpoint; false when the merchant has [`WebhookEndpoint::MAX_PER_MERCHANT`].
    async fn add_webhook_endpoint(&self, merchant_id: &str, endpoint: &WebhookEndpoint) -> Result<bool, StoreError>;

    /// Removes the endpoint `id`; false when the merchant has none with that id.
    async fn remove_webhook_endpoint(&self, merchant_id: &str, id: &WebhookEndpointId) -> Result<bool, StoreError>;

    /// Replaces the merchant's endpoint with `endpoint`'s id; false when there is none.
    async fn replace_webhook_endpoint(&self, merchant_id: &str, endpoint: &WebhookEndpoint)
    -> Result<bool, StoreError>;

    /// Records the health of the merchant's endpoint with `endpoint`'s id as `endpoint` has it
    /// (`WebhookEndpoint::with_health_of`): the dispatcher's copy was read at the start of its
    /// round, and must not undo a rotation made since. False when there is none.
    async fn record_webhook_endpoint_health(
        &self,
        merchant_id: &str,
        endpoint: &WebhookEndpoint,
    ) -> Result<bool, StoreError>;

    /// Events with a delivery due at `now`, the longest due first, at most `limit`.
    async fn due_events(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Event>, StoreError>;

    /// Stores how `event`'s deliveries stand (its `deliveries` and `due_at`, None: done) if the
    /// stored event is still at `event.revision`, the one it was read at; the stored revision
    /// goes up by one. False, with nothing written, when another record was made since (or the
    /// event was swept): the caller reads it again.
    async fn record_deliveries(&self, event: &Event) -> Result<bool, StoreError>;

    /// The event `id` (a strongly consistent read).
    async fn get_event(&self, id: &EventId) -> Result<Option<Event>, StoreError>;
}

/// One page of a merchant's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    pub events: Vec<Event>,
    /// Pass as `before` for the next page; None when this page is the last.
    pub next: Option<EventId>,
}

/// Rate counters (card-testing defences, API limits): shared by every instance.
#[async_trait]
pub trait Counters: Send + Sync {
    /// Adds one to the counter `name` (which names its own time window) and returns the new
    /// count. The counter is kept until `window_end`, then TTL sweeps it.
    async fn increment_counter(&self, name: &str, window_end: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Adds one to the counter `name` and `client`, when known, to the clients it counted;
    /// returns the new count, how many distinct clients it has counted and whether this client
    /// is a new one.
    async fn count_client(
        &self,
        name: &str,
        client: Option<&str>,
        window_end: DateTime<Utc>,
    ) -> Result<ClientCount, StoreError>;

    /// The count of counter `name`; 0 if it was never incremented.
    async fn read_counter(&self, name: &str) -> Result<u64, StoreError>;
}

/// A rate counter as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counter {
    /// Below zero reads as 0: see `dynamo::counters::giving_back`.
    #[serde(deserialize_with = "count_at_least_zero")]
    pub count: u64,
    pub window_end: DateTime<Utc>,
    /// The distinct clients counted, for counters that count them (`count_client`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub clients: std::collections::BTreeSet<String>,
}

fn count_at_least_zero<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let count = <i64 as serde::Deserialize>::deserialize(deserializer)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

impl Counter {
    /// A counter at 0 for the window ending at `window_end`.
    pub fn new(window_end: DateTime<Utc>) -> Counter {
        Counter { count: 0, window_end, clients: Default::default() }
    }
}

/// What `count_client` counted so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientCount {
    pub count: u64,
    /// Distinct clients.
    pub clients: u64,
    /// This count's client had not been counted before (so `clients` grew with it).
    pub new_client: bool,
}

impl ClientCount {
    /// What one more count of `client` makes of `counter`, the counter as it was (None: there
    /// was none).
    pub(crate) fn after(counter: Option<&Counter>, client: Option<&str>) -> ClientCount {
        let (count, clients) = counter.map_or((0, 0), |counter| (counter.count, counter.clients.len() as u64));
        let new_client = client.is_some_and(|client| counter.is_none_or(|counter| !counter.clients.contains(client)));
        ClientCount { count: count + 1, clients: clients + u64::from(new_client), new_client }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotentCreate {
    Created,
    /// The key was used before; nothing was written.
    Replay(IdempotencyRecord),
}

/// A page cut from `items` read one beyond `limit` (that one tells whether another page exists):
/// the first `limit`, and the id of the last of them when more follow.
fn one_more<T, Id>(mut items: Vec<T>, limit: usize, id: impl Fn(&T) -> Id) -> (Vec<T>, Option<Id>) {
    let next = (items.len() > limit).then(|| {
        items.truncate(limit);
        items.last().map(id)
    });
    (items, next.flatten())
}

impl LinkPage {
    /// The page of `links` read one beyond `limit` (see [`one_more`]).
    pub(crate) fn from_one_more(links: Vec<PaymentLink>, limit: usize) -> LinkPage {
        let (links, next) = one_more(links, limit, |link| link.id.clone());
        LinkPage { links, next }
    }
}

impl EventPage {
    /// The page of `events` read one beyond `limit` (see [`one_more`]).
    pub(crate) fn from_one_more(events: Vec<Event>, limit: usize) -> EventPage {
        let (events, next) = one_more(events, limit, |event| event.id.clone());
        EventPage { events, next }
    }
}

/// One page of a merchant's links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPage {
    pub links: Vec<PaymentLink>,
    /// Pass as `before` for the next page; None when this page is the last.
    pub next: Option<LinkId>,
}

// Returned once per pay and matched at once: boxing the session would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeginAttempt {
    /// This caller now holds the attempt and may charge it.
    Started(PaymentAttempt),
    /// Another request is charging this session right now.
    Busy,
    /// Not pending any more (or expired); here is the session as it is.
    Closed(CheckoutSession),
    NotFound,
    /// (`begin_attempt_checking_link`) The link takes no payment now; nothing was written.
    LinkRefused(LinkRefusal),
    /// A limit's counter is full until then (its window's end); nothing was written.
    TooManyAttempts(DateTime<Utc>),
}

/// What a write must be within to be made: its counter below `limit` (for a new attempt, a
/// client's declines and a link's unsettled attempts: see `checkout::guard`; for a new session,
/// the client's opens in the minute: `links::open`). The write counts on the counter in the
/// decision that makes it, so writes racing each other cannot all pass one reading of the count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterLimit {
    pub counter: RateCounter,
    pub limit: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimUse {
    /// Held (or, on a link without a limit, checked); the link as the claim left it.
    Claimed(Box<PaymentLink>),
    Refused(LinkRefusal),
    NotFound,
}

/// Why a link takes no payment right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// Card testing: pays are refused until then (see `checkout::guard`).
    Blocked(DateTime<Utc>),
    Unavailable(Unavailable),
}

impl LinkRefusal {
    /// What refuses a pay on `link` at `now` before its usage limit is looked at: a card-testing
    /// block (first: its customers are told when to try again), the link switched off, expired.
    pub fn before_limit(link: &PaymentLink, now: DateTime<Utc>) -> Option<LinkRefusal> {
        if let Some(until) = link.blocked_until.filter(|until| *until > now) {
            Some(LinkRefusal::Blocked(until))
        } else if !link.active {
            Some(LinkRefusal::Unavailable(Unavailable::Inactive))
        } else if now >= link.expires_at {
            Some(LinkRefusal::Unavailable(Unavailable::Expired))
        } else {
            None
        }
    }
}

impl ClaimUse {
    /// The claim refused because the link is full.
    pub const LIMIT_REACHED: ClaimUse = ClaimUse::Refused(LinkRefusal::Unavailable(Unavailable::LimitReached));
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletePayment {
    Completed,
    /// The hold had lapsed and the link filled up meanwhile: the charge must be voided.
    LimitReached,
    /// The session is no longer pending with this attempt (completed by an earlier try).
    SessionChanged,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptEnd {
    /// Ended without a charge (declined, refused, abandoned before charging): the session
    /// stays pending for another try.
    Declined,
    /// The payment failed for good at `at`: the session is closed with this code (and its
    /// `checkout.session.failed` event written with it).
    Failed { failure_code: FailureCode, at: DateTime<Utc> },
}

/// Partition keys of the single table, one prefix per item kind.
pub(crate) mod keys {
    use crate::model::{EventId, LinkId, SessionId};

    pub fn merchant(id: &str) -> String {
        format!("MERCHANT#{id}")
    }
    pub fn merchant_key(hash: &str) -> String {
        format!("KEY#{hash}")
    }
    pub fn link(id: &LinkId) -> String {
        format!("LINK#{id}")
    }
    pub fn session(id: &SessionId) -> String {
        format!("SESSION#{id}")
    }
    pub fn idempotency(merchant_id: &str, key: &str) -> String {
        format!("IDEMPOTENCY#{merchant_id}#{key}")
    }
    pub fn counter(name: &str) -> String {
        format!("COUNTER#{name}")
    }
    pub fn charge(idempotency_key: &str) -> String {
        format!("CHARGE#{idempotency_key}")
    }
    pub fn event(id: &EventId) -> String {
        format!("EVENT#{id}")
    }
    /// The listing partition of a merchant's events (DynamoDB's `gsi1pk`).
    pub fn merchant_events(merchant_id: &str) -> String {
        format!("EVENTS#{merchant_id}")
    }
    pub fn webhook_endpoints(merchant_id: &str) -> String {
        format!("WEBHOOKS#{merchant_id}")
    }
    /// When a delivery is due, as text that sorts as the instants do.
    pub fn due(at: chrono::DateTime<chrono::Utc>) -> String {
        format!("{:020}", at.timestamp_nanos_opt().unwrap_or(i64::MAX).max(0))
    }
}
