//! Events a merchant is told about (`GET /api/events`, and webhooks): each one written in the
//! same atomic store decision as the change it reports, so a change that committed always has
//! its event and one that did not never does.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{CheckoutSession, Deliveries, EventId, FailureCode, PaymentLink, PaymentResult};

/// What happened. Written as Stripe-style dotted names (`checkout.session.completed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "checkout.session.completed")]
    CheckoutSessionCompleted,
    #[serde(rename = "checkout.session.failed")]
    CheckoutSessionFailed,
    #[serde(rename = "checkout.session.refunded")]
    CheckoutSessionRefunded,
    #[serde(rename = "payment_link.usage_limit_reached")]
    PaymentLinkUsageLimitReached,
    #[serde(rename = "payment_link.deactivated")]
    PaymentLinkDeactivated,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::CheckoutSessionCompleted,
        EventType::CheckoutSessionFailed,
        EventType::CheckoutSessionRefunded,
        EventType::PaymentLinkUsageLimitReached,
        EventType::PaymentLinkDeactivated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::CheckoutSessionCompleted => "checkout.session.completed",
            EventType::CheckoutSessionFailed => "checkout.session.failed",
            EventType::CheckoutSessionRefunded => "checkout.session.refunded",
            EventType::PaymentLinkUsageLimitReached => "payment_link.usage_limit_reached",
            EventType::PaymentLinkDeactivated => "payment_link.deactivated",
        }
    }

    pub fn parse(text: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// One event, as stored and as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: EventId,
    pub merchant_id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub created_at: DateTime<Utc>,
    /// The event's `data`, as JSON text (any value round-trips through any store).
    pub data: String,
    /// When the merchant's endpoints are next due an attempt; None once none is pending.
    /// Every event is due when written (its endpoints are known only when it is delivered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    /// How its delivery to each endpoint stands.
    #[serde(default, skip_serializing_if = "Deliveries::is_empty")]
    pub deliveries: Deliveries,
    /// How many times its deliveries were recorded. A record is made from the event as it was
    /// read, and refused if another was made since: the dispatcher and a redelivery working on
    /// the event at once must not undo each other (`Webhooks::record_deliveries`).
    #[serde(default)]
    pub revision: u64,
}

impl Event {
    /// How long events are kept, and listed, for reconciliation.
    pub const KEPT: chrono::TimeDelta = chrono::TimeDelta::days(30);

    fn new(merchant_id: &str, kind: EventType, at: DateTime<Utc>, data: Value) -> Event {
        // Ids increase within a process even in one millisecond, so events written together
        // (a payment and the limit it reached) list in the order they happened.
        static IDS: std::sync::Mutex<Option<ulid::Generator>> = std::sync::Mutex::new(None);
        let mut ids = IDS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let id = ids.get_or_insert_with(ulid::Generator::new).generate().unwrap_or_else(|_| ulid::Ulid::new());
        Event {
            id: EventId::from_ulid(id),
            merchant_id: merchant_id.to_owned(),
            kind,
            created_at: at,
            data: data.to_string(),
            due_at: Some(at),
            deliveries: Deliveries::new(),
            revision: 0,
        }
    }

    /// The event as merchants see it (`GET /api/events`, webhook bodies):
    /// `{id, type, createdAt, data}`.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "type": self.kind.as_str(),
            "createdAt": self.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": serde_json::from_str::<Value>(&self.data).unwrap_or(Value::Null),
        })
    }

    /// `session` was paid with `result` (what the event says of the link, the session copied
    /// from it when it was opened).
    pub fn session_completed(session: &CheckoutSession, result: &PaymentResult) -> Event {
        let currency = session.checkout.currency;
        let data = json!({
            "sessionId": session.id,
            "paymentLinkId": session.link_id,
            "amount": result.amount.to_decimal_string(currency),
            "currency": currency.code(),
            "transactionId": result.transaction_id,
            "cardBrand": result.card_brand,
            "cardLastFour": result.card_last_four,
            "metadata": metadata(&session.checkout.metadata),
        });
        Event::new(&session.merchant_id, EventType::CheckoutSessionCompleted, result.completed_at, data)
    }

    /// The payment that completed `link`'s use `used` filled it: no further payment is taken.
    pub fn usage_limit_reached(link: &PaymentLink, used: u64, at: DateTime<Utc>) -> Event {
        let data = json!({ "paymentLinkId": link.id, "usageLimit": link.usage_limit, "used": used });
        Event::new(&link.merchant_id, EventType::PaymentLinkUsageLimitReached, at, data)
    }

    /// A session failed for good (the processor failed the charge): the customer was sent to
    /// the error URL with `code`.
    pub fn session_failed(session: &CheckoutSession, code: FailureCode, at: DateTime<Utc>) -> Event {
        let data = json!({
            "sessionId": session.id,
            "paymentLinkId": session.link_id,
            "failureCode": code.as_str(),
            "metadata": metadata(&session.checkout.metadata),
        });
        Event::new(&session.merchant_id, EventType::CheckoutSessionFailed, at, data)
    }

    /// An active link was switched off: by its merchant (no reason), or paused by the service
    /// (`reason` says why; the merchant switches it back on).
    pub fn link_deactivated(link: &PaymentLink, reason: Option<&str>, at: DateTime<Utc>) -> Event {
        let data = json!({ "paymentLinkId": link.id, "pausedAutomatically": reason.is_some(), "reason": reason });
        Event::new(&link.merchant_id, EventType::PaymentLinkDeactivated, at, data)
    }

    /// A paid session's payment was refunded in full.
    pub fn session_refunded(session: &CheckoutSession, at: DateTime<Utc>) -> Event {
        let currency = session.checkout.currency;
        let payment = session.payment.as_ref();
        let data = json!({
            "sessionId": session.id,
            "paymentLinkId": session.link_id,
            "amount": payment.map(|p| p.amount.to_decimal_string(currency)),
            "currency": currency.code(),
            "transactionId": payment.map(|p| &p.transaction_id),
            "metadata": metadata(&session.checkout.metadata),
        });
        Event::new(&session.merchant_id, EventType::CheckoutSessionRefunded, at, data)
    }
}

fn metadata(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}
