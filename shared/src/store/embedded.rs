//! The embedded store for `paylinks serve`: one redb file, the same semantics as DynamoDB.
//!
//! Items are JSON under the same partition keys as the DynamoDB table. redb runs one write
//! transaction at a time, so every check-then-write below is atomic, exactly as a DynamoDB
//! conditional write is.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use chrono::{DateTime, Utc};

use super::{
    AttemptEnd, BeginAttempt, ChargeLedger, ClaimUse, ClientCount, CompletePayment, Counter, CounterLimit, Counters,
    EventPage, Events, Idempotency, IdempotentCreate, LinkPage, LinkRefusal, Links, Merchants, Payments, Sessions,
    StoreError, Webhooks, keys, retention,
};
use crate::model::ChargeRecord;
use crate::model::{
    CheckoutSession, DeclineReason, Event, EventId, EventType, IdempotencyRecord, LinkId, Merchant, PaymentAttempt,
    PaymentLink, PaymentResult, RateCounter, SessionId, SessionStatus, WebhookEndpoint, WebhookEndpointId,
};
use crate::money::MinorUnits;

const ITEMS: TableDefinition<&str, &[u8]> = TableDefinition::new("items");
/// A merchant's links by (merchant id, link id): ULIDs sort by time, so a reverse range is
/// newest first. The embedded counterpart of the DynamoDB `gsi1` index.
const MERCHANT_LINKS: TableDefinition<(&str, &str), ()> = TableDefinition::new("merchant_links");
/// A merchant's events by (merchant id, event id), newest last, like `MERCHANT_LINKS`.
const MERCHANT_EVENTS: TableDefinition<(&str, &str), ()> = TableDefinition::new("merchant_events");
/// Events with a webhook delivery due, by (`keys::due` of when, event id): the outbox.
const DUE_EVENTS: TableDefinition<(&str, &str), ()> = TableDefinition::new("due_events");

/// The page cache of `paylinks serve` unless `PAYLINKS_CACHE_MB` says otherwise. redb's own
/// default (1 GiB) lets a long-running local server grow with its data file.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

impl EmbeddedStore {
    /// Opens (or creates) the store file with the default page cache; its data survives restarts.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) the store file, keeping at most `cache_bytes` of its pages in memory.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| unavailable(&e))?;
        }
        let db = Database::builder().set_cache_size(cache_bytes).create(path).map_err(|e| unavailable(&e))?;
        // Merchants' links, sessions and key hashes: readable by this user only.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| unavailable(&e))?;
        // Create the table up front so readers never meet a missing table.
        let txn = db.begin_write().map_err(|e| unavailable(&e))?;
        txn.open_table(ITEMS).map_err(|e| unavailable(&e))?;
        txn.open_table(MERCHANT_LINKS).map_err(|e| unavailable(&e))?;
        txn.open_table(MERCHANT_EVENTS).map_err(|e| unavailable(&e))?;
        txn.open_table(DUE_EVENTS).map_err(|e| unavailable(&e))?;
        txn.commit().map_err(|e| unavailable(&e))?;
        Ok(EmbeddedStore { db: Arc::new(db) })
    }

    /// Runs blocking database work off the async executor.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(|e| StoreError::Unavailable(format!("embedded store task failed: {e}")))?
    }

    async fn read<T: DeserializeOwned + Send + 'static>(&self, key: String) -> Result<Option<T>, StoreError> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(|e| unavailable(&e))?;
            let table = txn.open_table(ITEMS).map_err(|e| unavailable(&e))?;
            let Some(bytes) = table.get(key.as_str()).map_err(|e| unavailable(&e))? else {
                return Ok(None);
            };
            decode(&key, bytes.value()).map(Some)
        })
        .await
    }

    /// Writes all items in one transaction, only if none of the keys exists yet.
    async fn insert_new(&self, items: Vec<(String, Vec<u8>)>, conflict: &'static str) -> Result<(), StoreError> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(|e| unavailable(&e))?;
            {
                let mut table = txn.open_table(ITEMS).map_err(|e| unavailable(&e))?;
                for (key, _) in &items {
                    if table.get(key.as_str()).map_err(|e| unavailable(&e))?.is_some() {
                        return Err(StoreError::Conflict(conflict));
                    }
                }
                for (key, value) in &items {
                    table.insert(key.as_str(), value.as_slice()).map_err(|e| unavailable(&e))?;
                }
            }
            txn.commit().map_err(|e| unavailable(&e))
        })
        .await
    }
}

/// Reads and writes inside one redb write transaction: what a closure decides from what it
/// reads is committed atomically, like a DynamoDB condition or transaction.
struct Txn<'t> {
    table: redb::Table<'t, &'static str, &'static [u8]>,
    merchant_links: redb::Table<'t, (&'static str, &'static str), ()>,
    merchant_events: redb::Table<'t, (&'static str, &'static str), ()>,
    due_events: redb::Table<'t, (&'static str, &'static str), ()>,
}

impl Txn<'_> {
    fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.table.get(key).map_err(|e| unavailable(&e))? {
            Some(bytes) => decode(key, bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    fn put<T: Serialize>(&mut self, key: &str, value: &T) -> Result<(), StoreError> {
        self.table.insert(key, encode(value).as_slice()).map(|_| ()).map_err(|e| unavailable(&e))
    }

    /// Writes a new link and its place in the merchant's listing; Conflict if it exists.
    fn insert_link(&mut self, link: &PaymentLink) -> Result<(), StoreError> {
        let key = keys::link(&link.id);
        if self.table.get(key.as_str()).map_err(|e| unavailable(&e))?.is_some() {
            return Err(StoreError::Conflict("link exists"));
        }
        self.put(&key, link)?;
        self.merchant_links.insert((link.merchant_id.as_str(), link.id.as_str()), ()).map_err(|e| unavailable(&e))?;
        Ok(())
    }

    /// Records an event, its place in the merchant's listing and, while a delivery is due, in
    /// the outbox.
    fn insert_event(&mut self, event: &Event) -> Result<(), StoreError> {
        self.put(&keys::event(&event.id), event)?;
        let listed = (event.merchant_id.as_str(), event.id.as_str());
        self.merchant_events.insert(listed, ()).map_err(|e| unavailable(&e))?;
        self.set_due(event, None)
    }

    /// Starts an attempt on the session at `key` (see `Payments::begin_attempt`); with `link_key`,
    /// only if that link takes payments at `now`; a new attempt only within every one of `limits`.
    fn begin_attempt(
        &mut self,
        key: &str,
        amount: MinorUnits,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        link_key: Option<&str>,
        limits: &[CounterLimit],
    ) -> Result<BeginAttempt, StoreError> {
        let Some(mut session) = self.get::<CheckoutSession>(key)? else { return Ok(BeginAttempt::NotFound) };
        if !session.is_open(now) {
            return Ok(BeginAttempt::Closed(session));
        }
        // A new attempt counts on the limits' counters; a taken-over one counted when it began.
        let (attempt, counted) = match session.in_flight.take() {
            Some(live) if live.lease_until > now => return Ok(BeginAttempt::Busy),
            Some(lapsed) => (PaymentAttempt { lease_until, ..lapsed }, &[][..]),
            None => {
                session.attempts += 1;
                let counters = limits.iter().map(|limit| limit.counter.clone()).collect();
                (PaymentAttempt { number: session.attempts, amount, lease_until, counters }, limits)
            }
        };
        if let Some(link_key) = link_key {
            let Some(link) = self.get::<PaymentLink>(link_key)? else {
                return Err(StoreError::Corrupt {
                    key: link_key.to_owned(),
                    detail: "session of a missing link".into(),
                });
            };
            if let Some(refusal) = LinkRefusal::before_limit(&link, now) {
                return Ok(BeginAttempt::LinkRefused(refusal));
            }
        }
        if let Some(full_until) = self.count_within(counted)? {
            return Ok(BeginAttempt::TooManyAttempts(full_until));
        }
        session.in_flight = Some(attempt.clone());
        self.put(key, &session)?;
        Ok(BeginAttempt::Started(attempt))
    }

    /// Ends attempt `attempt` of the session at `key` (see `Payments::end_attempt`), recording
    /// `declined` as its last decline when the processor declined it; false when it was over
    /// already (or there is no such session).
    fn end_attempt(
        &mut self,
        key: &str,
        attempt: u32,
        end: AttemptEnd,
        declined: Option<DeclineReason>,
    ) -> Result<bool, StoreError> {
        let Some(mut session) = self.get::<CheckoutSession>(key)? else { return Ok(false) };
        let Some(in_flight) = session.in_flight.take().filter(|in_flight| in_flight.number == attempt) else {
            return Ok(false);
        };
        if session.status != SessionStatus::Pending {
            return Ok(false);
        }
        match declined {
            // A decline is what the attempt's count counts: it stays.
            Some(_) => session.last_decline = declined,
            None => self.give_back(&in_flight.counters)?,
        }
        if let AttemptEnd::Failed { failure_code, at } = end {
            session.status = SessionStatus::Failed;
            session.failure_code = Some(failure_code);
            self.insert_event(&Event::session_failed(&session, failure_code, at))?;
        }
        self.put(key, &session)?;
        Ok(true)
    }

    /// One more on the counter of each of `limits`, only if every one is below its limit (see
    /// `CounterLimit`): otherwise nothing is counted, and the window end of a full one says until
    /// when.
    fn count_within(&mut self, limits: &[CounterLimit]) -> Result<Option<DateTime<Utc>>, StoreError> {
        for CounterLimit { counter, limit } in limits {
            if self.get::<Counter>(&keys::counter(&counter.name))?.is_some_and(|counted| counted.count >= *limit) {
                return Ok(Some(counter.window_end));
            }
        }
        for CounterLimit { counter, .. } in limits {
            self.count(&keys::counter(&counter.name), counter.window_end, None)?;
        }
        Ok(None)
    }

    /// Gives back the count an attempt took on each of its `counters` (see
    /// `Payments::end_attempt`); a counter gone already stays gone.
    fn give_back(&mut self, counters: &[RateCounter]) -> Result<(), StoreError> {
        for counter in counters {
            let key = keys::counter(&counter.name);
            if let Some(mut counted) = self.get::<Counter>(&key)? {
                counted.count = counted.count.saturating_sub(1);
                self.put(&key, &counted)?;
            }
        }
        Ok(())
    }

    /// Gives back the use `holder` holds on the link at `key`, if it holds one.
    fn release_use(&mut self, key: &str, holder: &str) -> Result<(), StoreError> {
        let Some(mut link) = self.get::<PaymentLink>(key)? else { return Ok(()) };
        if link.claims.remove(holder).is_some() {
            link.reserved -= 1;
            self.put(key, &link)?;
        }
        Ok(())
    }

    /// Adds one to the counter at `key` (and `client` to its clients); the counter as it now is.
    fn count(
        &mut self,
        key: &str,
        window_end: DateTime<Utc>,
        client: Option<String>,
    ) -> Result<ClientCount, StoreError> {
        let was = self.get::<Counter>(key)?;
        let counted = ClientCount::after(was.as_ref(), client.as_deref());
        let mut counter = was.unwrap_or_else(|| Counter::new(window_end));
        counter.count += 1;
        counter.clients.extend(client);
        self.put(key, &counter)?;
        Ok(counted)
    }

    /// Moves `event` in the outbox from `was_due` to its own `due_at`.
    fn set_due(&mut self, event: &Event, was_due: Option<DateTime<Utc>>) -> Result<(), StoreError> {
        if let Some(at) = was_due {
            self.due_events.remove((keys::due(at).as_str(), event.id.as_str())).map_err(|e| unavailable(&e))?;
        }
        if let Some(at) = event.due_at {
            self.due_events.insert((keys::due(at).as_str(), event.id.as_str()), ()).map_err(|e| unavailable(&e))?;
        }
        Ok(())
    }
}

impl EmbeddedStore {
    /// Runs `work` in a write transaction, committed only when it returns Ok.
    /// The merchant's endpoint `id` replaced by `change` of it as stored, in one transaction;
    /// false when there is none.
    async fn change_endpoint(
        &self,
        merchant_id: &str,
        id: WebhookEndpointId,
        change: impl FnOnce(&WebhookEndpoint) -> WebhookEndpoint + Send + 'static,
    ) -> Result<bool, StoreError> {
        let key = keys::webhook_endpoints(merchant_id);
        self.write(move |txn| {
            let mut endpoints: Vec<WebhookEndpoint> = txn.get(&key)?.unwrap_or_default();
            let Some(slot) = endpoints.iter_mut().find(|e| e.id == id) else { return Ok(false) };
            *slot = change(slot);
            txn.put(&key, &endpoints)?;
            Ok(true)
        })
        .await
    }

    async fn write<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Txn<'_>) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(|e| unavailable(&e))?;
            let result = {
                let table = txn.open_table(ITEMS).map_err(|e| unavailable(&e))?;
                let merchant_links = txn.open_table(MERCHANT_LINKS).map_err(|e| unavailable(&e))?;
                let merchant_events = txn.open_table(MERCHANT_EVENTS).map_err(|e| unavailable(&e))?;
                let due_events = txn.open_table(DUE_EVENTS).map_err(|e| unavailable(&e))?;
                work(&mut Txn { table, merchant_links, merchant_events, due_events })?
            };
            txn.commit().map_err(|e| unavailable(&e))?;
            Ok(result)
        })
        .await
    }
}

impl EmbeddedStore {
    /// Deletes every item whose time is up, by the rules DynamoDB's TTL follows
    /// (`store::retention`): `paylinks serve` runs it every hour, so a long-running local store
    /// does not grow with every open of a link. Merchants and their key lookups are kept.
    /// Returns how many items went.
    pub async fn sweep_expired(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        self.write(move |txn| {
            // Each expired key, with the (merchant, id) it is listed under, if it is listed.
            let mut expired: Vec<(String, Option<(String, String)>)> = Vec::new();
            // Swept events still due: out of the outbox too.
            let mut swept_due: Vec<Event> = Vec::new();
            for entry in txn.table.iter().map_err(|e| unavailable(&e))? {
                let (key, value) = entry.map_err(|e| unavailable(&e))?;
                let (key, bytes) = (key.value(), value.value());
                match sweep_at(key, bytes) {
                    Some(at) if at <= now => {
                        let listed = if key.starts_with("LINK#") {
                            decode::<PaymentLink>(key, bytes).ok().map(|l| (l.merchant_id, l.id.to_string()))
                        } else if key.starts_with("EVENT#") {
                            let event = decode::<Event>(key, bytes).ok();
                            if let Some(event) = event.as_ref().filter(|event| event.due_at.is_some()) {
                                swept_due.push(event.clone());
                            }
                            event.map(|e| (e.merchant_id, e.id.to_string()))
                        } else {
                            None
                        };
                        expired.push((key.to_owned(), listed));
                    }
                    _ => {}
                }
            }
            for (key, listed) in &expired {
                txn.table.remove(key.as_str()).map_err(|e| unavailable(&e))?;
                if let Some((merchant, id)) = listed {
                    let index =
                        if key.starts_with("EVENT#") { &mut txn.merchant_events } else { &mut txn.merchant_links };
                    index.remove((merchant.as_str(), id.as_str())).map_err(|e| unavailable(&e))?;
                }
            }
            for event in &swept_due {
                txn.set_due(&Event { due_at: None, ..event.clone() }, event.due_at)?;
            }
            Ok(expired.len())
        })
        .await
    }
}

/// When the item under `key` may be swept; None for items kept for good (merchants, key
/// lookups) and for items that do not decode (left for a person to look at).
fn sweep_at(key: &str, bytes: &[u8]) -> Option<DateTime<Utc>> {
    let kind = key.split_once('#').map_or(key, |(kind, _)| kind);
    match kind {
        "LINK" => decode(key, bytes).ok().map(|link| retention::link(&link)),
        "SESSION" => decode(key, bytes).ok().map(|session| retention::session(&session)),
        "CHARGE" => decode(key, bytes).ok().map(|record| retention::charge(&record)),
        "IDEMPOTENCY" => decode(key, bytes).ok().map(|record| retention::idempotency(&record)),
        "COUNTER" => decode(key, bytes).ok().map(|counter: Counter| retention::counter(counter.window_end)),
        "EVENT" => decode(key, bytes).ok().map(|event| retention::event(&event)),
        _ => None,
    }
}

fn unavailable(error: &dyn std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("embedded store: {error}"))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Our model types serialize to JSON infallibly (string keys, no non-finite floats).
    serde_json::to_vec(value).expect("model types always serialize")
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt { key: key.to_owned(), detail: e.to_string() })
}

#[async_trait]
impl Merchants for EmbeddedStore {
    async fn create_merchant(&self, merchant: &Merchant) -> Result<(), StoreError> {
        let record = encode(merchant);
        let items = vec![
            (keys::merchant(&merchant.id), record.clone()),
            (keys::merchant_key(&merchant.merchant_key_hash), record),
        ];
        self.insert_new(items, "merchant exists").await
    }

    async fn find_merchant_by_key(&self, merchant_key_hash: &str) -> Result<Option<Merchant>, StoreError> {
        self.read(keys::merchant_key(merchant_key_hash)).await
    }
}

#[async_trait]
impl Links for EmbeddedStore {
    async fn create_link(&self, link: &PaymentLink) -> Result<(), StoreError> {
        let link = link.clone();
        self.write(move |txn| txn.insert_link(&link)).await
    }

    async fn get_link(&self, id: &LinkId) -> Result<Option<PaymentLink>, StoreError> {
        self.read(keys::link(id)).await
    }

    async fn set_link_active(
        &self,
        id: &LinkId,
        active: bool,
        pause_reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<PaymentLink>, StoreError> {
        let (key, pause_reason) = (keys::link(id), pause_reason.map(str::to_owned));
        self.write(move |txn| {
            let Some(mut link) = txn.get::<PaymentLink>(&key)? else { return Ok(None) };
            if link.active && !active {
                txn.insert_event(&Event::link_deactivated(&link, pause_reason.as_deref(), now))?;
            }
            if active && pause_reason.is_none() {
                // Switched on by its merchant: no card-testing block either.
                link.blocked_until = None;
            }
            link.active = active;
            link.pause_reason = pause_reason;
            txn.put(&key, &link)?;
            Ok(Some(link))
        })
        .await
    }

    async fn block_payments(&self, id: &LinkId, until: DateTime<Utc>) -> Result<(), StoreError> {
        let key = keys::link(id);
        self.write(move |txn| {
            let Some(mut link) = txn.get::<PaymentLink>(&key)? else { return Ok(()) };
            if link.blocked_until.is_none_or(|blocked| blocked < until) {
                link.blocked_until = Some(until);
                txn.put(&key, &link)?;
            }
            Ok(())
        })
        .await
    }

    async fn list_links(
        &self,
        merchant_id: &str,
        limit: usize,
        before: Option<&LinkId>,
    ) -> Result<LinkPage, StoreError> {
        let (merchant_id, before) = (merchant_id.to_owned(), before.map(LinkId::to_string));
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(|e| unavailable(&e))?;
            let index = txn.open_table(MERCHANT_LINKS).map_err(|e| unavailable(&e))?;
            let items = txn.open_table(ITEMS).map_err(|e| unavailable(&e))?;
            // Link ids are `pl_` + Crockford base32: every one sorts below "~".
            let upper = before.as_deref().unwrap_or("~");
            let range =
                index.range((merchant_id.as_str(), "")..(merchant_id.as_str(), upper)).map_err(|e| unavailable(&e))?;
            let mut links = Vec::with_capacity(limit);
            for entry in range.rev().take(limit + 1) {
                let (ids, _) = entry.map_err(|e| unavailable(&e))?;
                let key = keys::link(&ids.value().1.parse().map_err(|_| StoreError::Corrupt {
                    key: ids.value().1.to_owned(),
                    detail: "bad link id in the merchant index".into(),
                })?);
                let bytes = items.get(key.as_str()).map_err(|e| unavailable(&e))?;
                let bytes = bytes
                    .ok_or_else(|| StoreError::Corrupt { key: key.clone(), detail: "indexed link missing".into() })?;
                links.push(decode::<PaymentLink>(&key, bytes.value())?);
            }
            Ok(LinkPage::from_one_more(links, limit))
        })
        .await
    }
}

#[async_trait]
impl Idempotency for EmbeddedStore {
    async fn create_link_idempotent(
        &self,
        link: &PaymentLink,
        record: &IdempotencyRecord,
        now: DateTime<Utc>,
    ) -> Result<IdempotentCreate, StoreError> {
        let (link, record) = (link.clone(), record.clone());
        let key = keys::idempotency(&record.merchant_id, &record.key);
        self.write(move |txn| {
            if let Some(existing) = txn.get::<IdempotencyRecord>(&key)?.filter(|r| r.expires_at > now) {
                return Ok(IdempotentCreate::Replay(existing));
            }
            txn.insert_link(&link)?;
            txn.put(&key, &record)?;
            Ok(IdempotentCreate::Created)
        })
        .await
    }
}

#[async_trait]
impl Sessions for EmbeddedStore {
    async fn create_session(&self, session: &CheckoutSession) -> Result<(), StoreError> {
        self.insert_new(vec![(keys::session(&session.id), encode(session))], "session exists").await
    }

    async fn create_session_within(&self, session: &CheckoutSession, limit: &CounterLimit) -> Result<bool, StoreError> {
        let (key, session, limit) = (keys::session(&session.id), session.clone(), limit.clone());
        self.write(move |txn| {
            if txn.get::<CheckoutSession>(&key)?.is_some() {
                return Err(StoreError::Conflict("session exists"));
            }
            if txn.count_within(std::slice::from_ref(&limit))?.is_some() {
                return Ok(false);
            }
            txn.put(&key, &session)?;
            Ok(true)
        })
        .await
    }

    async fn get_session(&self, id: &SessionId) -> Result<Option<CheckoutSession>, StoreError> {
        self.read(keys::session(id)).await
    }

    async fn cancel_session(
        &self,
        session: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<CheckoutSession>, StoreError> {
        let key = keys::session(session);
        self.write(move |txn| {
            let Some(mut session) = txn.get::<CheckoutSession>(&key)? else { return Ok(None) };
            let being_paid = session.in_flight.as_ref().is_some_and(|a| a.lease_until > now);
            if session.is_open(now) && !being_paid {
                session.status = SessionStatus::Cancelled;
                // A lapsed attempt ends here without a charge: its count goes back.
                if let Some(lapsed) = session.in_flight.take() {
                    txn.give_back(&lapsed.counters)?;
                }
                txn.put(&key, &session)?;
            }
            Ok(Some(session))
        })
        .await
    }

    async fn mark_refunded(
        &self,
        session: &SessionId,
        transaction_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<CheckoutSession>, StoreError> {
        let key = keys::session(session);
        let transaction_id = transaction_id.to_owned();
        self.write(move |txn| {
            let Some(mut session) = txn.get::<CheckoutSession>(&key)? else { return Ok(None) };
            let paid_by_it = session.payment.as_ref().is_some_and(|p| p.transaction_id == transaction_id);
            if session.status == SessionStatus::Completed && paid_by_it {
                session.status = SessionStatus::Refunded;
                txn.put(&key, &session)?;
                txn.insert_event(&Event::session_refunded(&session, now))?;
            }
            Ok(Some(session))
        })
        .await
    }
}

#[async_trait]
impl Payments for EmbeddedStore {
    async fn begin_attempt(
        &self,
        session: &SessionId,
        amount: MinorUnits,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<BeginAttempt, StoreError> {
        let key = keys::session(session);
        self.write(move |txn| txn.begin_attempt(&key, amount, now, lease_until, None, &[])).await
    }

    async fn begin_attempt_on(
        &self,
        session: &CheckoutSession,
        amount: MinorUnits,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limits: &[CounterLimit],
    ) -> Result<BeginAttempt, StoreError> {
        let (key, limits) = (keys::session(&session.id), limits.to_vec());
        self.write(move |txn| txn.begin_attempt(&key, amount, now, lease_until, None, &limits)).await
    }

    async fn begin_attempt_checking_link(
        &self,
        session: &CheckoutSession,
        amount: MinorUnits,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limits: &[CounterLimit],
    ) -> Result<BeginAttempt, StoreError> {
        let (key, link_key, limits) = (keys::session(&session.id), keys::link(&session.link_id), limits.to_vec());
        self.write(move |txn| txn.begin_attempt(&key, amount, now, lease_until, Some(&link_key), &limits)).await
    }

    async fn claim_use(
        &self,
        link: &LinkId,
        session: &SessionId,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
    ) -> Result<ClaimUse, StoreError> {
        let (key, session) = (keys::link(link), session.to_string());
        self.write(move |txn| {
            let Some(mut link) = txn.get::<PaymentLink>(&key)? else { return Ok(ClaimUse::NotFound) };
            if let Some(refusal) = LinkRefusal::before_limit(&link, now) {
                return Ok(ClaimUse::Refused(refusal));
            }
            let Some(limit) = link.usage_limit else { return Ok(ClaimUse::Claimed(Box::new(link))) };
            let lapsed = link.claims.len();
            link.claims.retain(|holder, until| *until > now || *holder == session);
            link.reserved -= (lapsed - link.claims.len()) as u64;
            if !link.claims.contains_key(&session) {
                if link.reserved >= limit {
                    return Ok(ClaimUse::LIMIT_REACHED);
                }
                link.reserved += 1;
            }
            link.claims.insert(session, hold_until);
            txn.put(&key, &link)?;
            Ok(ClaimUse::Claimed(Box::new(link)))
        })
        .await
    }

    async fn release_use(&self, link: &LinkId, session: &SessionId) -> Result<(), StoreError> {
        let (key, session) = (keys::link(link), session.to_string());
        self.write(move |txn| txn.release_use(&key, &session)).await
    }

    async fn renew_hold(
        &self,
        link: &LinkId,
        session: &SessionId,
        hold_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (key, session) = (keys::link(link), session.to_string());
        self.write(move |txn| {
            let Some(mut link) = txn.get::<PaymentLink>(&key)? else { return Ok(false) };
            let Some(until) = link.claims.get_mut(&session) else { return Ok(false) };
            *until = hold_until;
            txn.put(&key, &link)?;
            Ok(true)
        })
        .await
    }

    async fn complete_payment(
        &self,
        session: &SessionId,
        attempt: u32,
        link: &LinkId,
        result: &PaymentResult,
    ) -> Result<CompletePayment, StoreError> {
        let (session_key, link_key, holder, result) =
            (keys::session(session), keys::link(link), session.to_string(), result.clone());
        self.write(move |txn| {
            let Some(mut session) = txn.get::<CheckoutSession>(&session_key)? else {
                return Ok(CompletePayment::SessionChanged);
            };
            let Some(in_flight) = session.in_flight.take().filter(|in_flight| in_flight.number == attempt) else {
                return Ok(CompletePayment::SessionChanged);
            };
            if session.status != SessionStatus::Pending {
                return Ok(CompletePayment::SessionChanged);
            }
            let Some(mut link) = txn.get::<PaymentLink>(&link_key)? else {
                return Err(StoreError::Corrupt { key: link_key, detail: "session of a missing link".into() });
            };
            if let Some(limit) = link.usage_limit
                && link.claims.remove(&holder).is_none()
            {
                // The hold lapsed: count this payment only if a use is still free.
                if link.reserved >= limit {
                    return Ok(CompletePayment::LimitReached);
                }
                link.reserved += 1;
            }
            link.used += 1;
            txn.give_back(&in_flight.counters)?;
            session.status = SessionStatus::Completed;
            txn.insert_event(&Event::session_completed(&session, &result))?;
            if link.usage_limit == Some(link.used) {
                txn.insert_event(&Event::usage_limit_reached(&link, link.used, result.completed_at))?;
            }
            session.payment = Some(result);
            txn.put(&link_key, &link)?;
            txn.put(&session_key, &session)?;
            Ok(CompletePayment::Completed)
        })
        .await
    }

    async fn end_attempt(
        &self,
        session: &SessionId,
        attempt: &PaymentAttempt,
        end: AttemptEnd,
    ) -> Result<(), StoreError> {
        let (key, attempt) = (keys::session(session), attempt.number);
        self.write(move |txn| txn.end_attempt(&key, attempt, end, None).map(|_| ())).await
    }

    async fn decline_attempt(
        &self,
        session: &CheckoutSession,
        attempt: u32,
        reason: DeclineReason,
    ) -> Result<bool, StoreError> {
        let (key, holder) = (keys::session(&session.id), session.id.to_string());
        let link_key = session.link_has_usage_limit.then(|| keys::link(&session.link_id));
        self.write(move |txn| {
            // The hold goes only with the attempt: holds are the session's, and once the attempt
            // is over the hold may be a newer attempt's.
            let ended = txn.end_attempt(&key, attempt, AttemptEnd::Declined, Some(reason))?;
            if let Some(link_key) = link_key.as_deref().filter(|_| ended) {
                txn.release_use(link_key, &holder)?;
            }
            Ok(ended)
        })
        .await
    }
}

#[async_trait]
impl ChargeLedger for EmbeddedStore {
    async fn record_charge(&self, record: &ChargeRecord) -> Result<ChargeRecord, StoreError> {
        let (key, record) = (keys::charge(&record.idempotency_key), record.clone());
        self.write(move |txn| match txn.get::<ChargeRecord>(&key)? {
            Some(existing) => Ok(existing),
            None => txn.put(&key, &record).map(|()| record),
        })
        .await
    }

    async fn void_charge(&self, idempotency_key: &str) -> Result<(), StoreError> {
        let key = keys::charge(idempotency_key);
        self.write(move |txn| {
            let Some(mut record) = txn.get::<ChargeRecord>(&key)? else { return Ok(()) };
            record.voided = true;
            txn.put(&key, &record)
        })
        .await
    }

    async fn get_charge(&self, idempotency_key: &str) -> Result<Option<ChargeRecord>, StoreError> {
        self.read(keys::charge(idempotency_key)).await
    }
}

#[async_trait]
impl Counters for EmbeddedStore {
    async fn increment_counter(&self, name: &str, window_end: DateTime<Utc>) -> Result<u64, StoreError> {
        let key = keys::counter(name);
        self.write(move |txn| Ok(txn.count(&key, window_end, None)?.count)).await
    }

    async fn count_client(
        &self,
        name: &str,
        client: Option<&str>,
        window_end: DateTime<Utc>,
    ) -> Result<ClientCount, StoreError> {
        let (key, client) = (keys::counter(name), client.map(str::to_owned));
        self.write(move |txn| txn.count(&key, window_end, client)).await
    }

    async fn read_counter(&self, name: &str) -> Result<u64, StoreError> {
        Ok(self.read::<Counter>(keys::counter(name)).await?.map_or(0, |counter| counter.count))
    }
}

#[async_trait]
impl Events for EmbeddedStore {
    async fn list_events(
        &self,
        merchant_id: &str,
        kind: Option<EventType>,
        limit: usize,
        before: Option<&EventId>,
        now: DateTime<Utc>,
    ) -> Result<EventPage, StoreError> {
        let (merchant_id, before) = (merchant_id.to_owned(), before.map(EventId::to_string));
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(|e| unavailable(&e))?;
            let index = txn.open_table(MERCHANT_EVENTS).map_err(|e| unavailable(&e))?;
            let items = txn.open_table(ITEMS).map_err(|e| unavailable(&e))?;
            // Event ids are `evt_` + Crockford base32: every one sorts below "~".
            let upper = before.as_deref().unwrap_or("~");
            let range =
                index.range((merchant_id.as_str(), "")..(merchant_id.as_str(), upper)).map_err(|e| unavailable(&e))?;
            let mut events = Vec::with_capacity(limit);
            for entry in range.rev() {
                let (ids, _) = entry.map_err(|e| unavailable(&e))?;
                let id: EventId = ids.value().1.parse().map_err(|_| StoreError::Corrupt {
                    key: ids.value().1.to_owned(),
                    detail: "bad event id in the merchant index".into(),
                })?;
                let key = keys::event(&id);
                let bytes = items.get(key.as_str()).map_err(|e| unavailable(&e))?;
                let bytes = bytes
                    .ok_or_else(|| StoreError::Corrupt { key: key.clone(), detail: "indexed event missing".into() })?;
                let event = decode::<Event>(&key, bytes.value())?;
                if retention::event(&event) <= now {
                    break; // older ones are older still: swept soon, listed never
                }
                if kind.is_none_or(|kind| event.kind == kind) {
                    events.push(event);
                    if events.len() > limit {
                        break;
                    }
                }
            }
            Ok(EventPage::from_one_more(events, limit))
        })
        .await
    }
}

#[async_trait]
impl Webhooks for EmbeddedStore {
    async fn webhook_endpoints(&self, merchant_id: &str) -> Result<Vec<WebhookEndpoint>, StoreError> {
        Ok(self.read(keys::webhook_endpoints(merchant_id)).await?.unwrap_or_default())
    }

    async fn add_webhook_endpoint(&self, merchant_id: &str, endpoint: &WebhookEndpoint) -> Result<bool, StoreError> {
        let (key, endpoint) = (keys::webhook_endpoints(merchant_id), endpoint.clone());
        self.write(move |txn| {
            let mut endpoints: Vec<WebhookEndpoint> = txn.get(&key)?.unwrap_or_default();
            if endpoints.len() >= WebhookEndpoint::MAX_PER_MERCHANT {
                return Ok(false);
            }
            endpoints.push(endpoint);
            txn.put(&key, &endpoints)?;
            Ok(true)
        })
        .await
    }

    async fn remove_webhook_endpoint(&self, merchant_id: &str, id: &WebhookEndpointId) -> Result<bool, StoreError> {
        let (key, id) = (keys::webhook_endpoints(merchant_id), id.clone());
        self.write(move |txn| {
            let mut endpoints: Vec<WebhookEndpoint> = txn.get(&key)?.unwrap_or_default();
            let before = endpoints.len();
            endpoints.retain(|endpoint| endpoint.id != id);
            if endpoints.len() == before {
                return Ok(false);
            }
            txn.put(&key, &endpoints)?;
            Ok(true)
        })
        .await
    }

    async fn replace_webhook_endpoint(
        &self,
        merchant_id: &str,
        endpoint: &WebhookEndpoint,
    ) -> Result<bool, StoreError> {
        let replacement = endpoint.clone();
        self.change_endpoint(merchant_id, endpoint.id.clone(), move |_| replacement).await
    }

    async fn record_webhook_endpoint_health(
        &self,
        merchant_id: &str,
        endpoint: &WebhookEndpoint,
    ) -> Result<bool, StoreError> {
        let measured = endpoint.clone();
        self.change_endpoint(merchant_id, endpoint.id.clone(), move |stored| stored.clone().with_health_of(&measured))
            .await
    }

    async fn due_events(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(|e| unavailable(&e))?;
            let due = txn.open_table(DUE_EVENTS).map_err(|e| unavailable(&e))?;
            let items = txn.open_table(ITEMS).map_err(|e| unavailable(&e))?;
            let until = keys::due(now);
            // Due at `now` or before: every key up to `until` with any event id ("~" sorts last).
            let range = due.range(("", "")..=(until.as_str(), "~")).map_err(|e| unavailable(&e))?;
            let mut events = Vec::new();
            for entry in range.take(limit) {
                let (ids, _) = entry.map_err(|e| unavailable(&e))?;
                let id: EventId = ids.value().1.parse().map_err(|_| StoreError::Corrupt {
                    key: ids.value().1.to_owned(),
                    detail: "bad event id in the outbox".into(),
                })?;
                let key = keys::event(&id);
                if let Some(bytes) = items.get(key.as_str()).map_err(|e| unavailable(&e))? {
                    events.push(decode::<Event>(&key, bytes.value())?);
                }
            }
            Ok(events)
        })
        .await
    }

    async fn get_event(&self, id: &EventId) -> Result<Option<Event>, StoreError> {
        self.read(keys::event(id)).await
    }

    async fn record_deliveries(&self, event: &Event) -> Result<bool, StoreError> {
        let read_at = event.revision;
        let recorded = Event { revision: read_at + 1, ..event.clone() };
        self.write(move |txn| {
            let key = keys::event(&recorded.id);
            let Some(stored) = txn.get::<Event>(&key)?.filter(|stored| stored.revision == read_at) else {
                return Ok(false);
            };
            txn.put(&key, &recorded)?;
            txn.set_due(&recorded, stored.due_at)?;
            Ok(true)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::model::{Cart, Merchant};
    use crate::test_support::{fresh_embedded_store, shop_checkout};

    fn link(merchant: &str, created_at: DateTime<Utc>) -> PaymentLink {
        PaymentLink::new(merchant, shop_checkout(Cart::Amount { amount: MinorUnits(2500) }), None, 7, created_at)
    }

    #[tokio::test]
    async fn the_sweep_removes_what_dynamodbs_ttl_would_and_keeps_the_rest() {
        let (store, _dir) = fresh_embedded_store();
        let now: DateTime<Utc> = "2026-06-01T12:00:00Z".parse().unwrap();
        let merchant = Merchant {
            id: "m_sweep".into(),
            name: "Shop".into(),
            vault_key_hash: "v".repeat(64),
            merchant_key_hash: "k".repeat(64),
            created_at: now - TimeDelta::days(400),
            stripe_account: None,
        };
        store.create_merchant(&merchant).await.unwrap();
        // Expired 100 days ago: past its 90 days of retention.
        let old = link("m_sweep", now - TimeDelta::days(107));
        // Still listed: opened an hour ago, and two days ago (an unpaid session, a day past its sweep).
        let live = link("m_sweep", now - TimeDelta::hours(1));
        let fresh_session = CheckoutSession::open(&live, now - TimeDelta::hours(1));
        let abandoned = CheckoutSession::open(&live, now - TimeDelta::days(2));
        for link in [&old, &live] {
            store.create_link(link).await.unwrap();
        }
        for session in [&fresh_session, &abandoned] {
            store.create_session(session).await.unwrap();
        }
        store.increment_counter("opens:client:192.0.2.1:1", now - TimeDelta::minutes(5)).await.unwrap();
        store.increment_counter("opens:client:192.0.2.1:2", now + TimeDelta::minutes(1)).await.unwrap();

        assert_eq!(store.sweep_expired(now).await.unwrap(), 3, "the old link, the abandoned session, the old counter");
        assert_eq!(store.get_link(&old.id).await.unwrap(), None);
        assert_eq!(store.get_session(&abandoned.id).await.unwrap(), None);
        assert_eq!(store.read_counter("opens:client:192.0.2.1:1").await.unwrap(), 0);
        assert!(store.get_link(&live.id).await.unwrap().is_some());
        assert!(store.get_session(&fresh_session.id).await.unwrap().is_some());
        assert_eq!(store.read_counter("opens:client:192.0.2.1:2").await.unwrap(), 1);
        assert_eq!(store.find_merchant_by_key(&merchant.merchant_key_hash).await.unwrap(), Some(merchant));
        let listed = store.list_links("m_sweep", 10, None).await.unwrap();
        assert_eq!(listed.links.iter().map(|l| &l.id).collect::<Vec<_>>(), [&live.id], "the listing forgets it too");
    }
}
