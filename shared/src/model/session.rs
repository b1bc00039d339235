//! One customer's visit to a link, its payment attempts and what a completed payment charged.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::{Checkout, DeclineReason, LinkId, PaymentLink, SessionId};
use crate::money::MinorUnits;

/// Lifecycle of a checkout session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Pending,
    Completed,
    Failed,
    Cancelled,
    Expired,
    /// Paid, then the whole payment was given back (a refund at the processor).
    Refunded,
}

/// One customer's visit to a link: created on every open of `/pay/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutSession {
    pub id: SessionId,
    pub link_id: LinkId,
    pub merchant_id: String,
    pub checkout: Checkout,
    pub status: SessionStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Random per session, carried by the pay form and checked on every POST.
    #[serde(default)]
    pub form_token: String,
    /// Payment attempts started so far; numbers the processor idempotency keys.
    #[serde(default)]
    pub attempts: u32,
    /// The attempt being charged right now, if any. At most one per session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<PaymentAttempt>,
    /// Set once, when the session is completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentResult>,
    /// Why a failed session failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<FailureCode>,
    /// Why the processor declined the session's last attempt, if it did: what the page says
    /// when the pay's redirect brings the customer back to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_decline: Option<DeclineReason>,
    /// Whether the link has a usage limit (it never changes): a pay then holds a use before
    /// charging; without one it only checks the link as its attempt begins. Sessions stored
    /// before this was kept read as limited, the way that works for every link.
    #[serde(default = "CheckoutSession::limited_unless_known")]
    pub link_has_usage_limit: bool,
}

/// Why a session failed for good, as the merchant's `errorUrl` and the session API show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailureCode {
    /// The processor failed the charge for reasons the customer cannot fix.
    SystemError,
    /// The session or its link can no longer be paid.
    SessionFailed,
}

impl FailureCode {
    /// `SYSTEM_ERROR` or `SESSION_FAILED`, the seed's `errorCode`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::SystemError => "SYSTEM_ERROR",
            FailureCode::SessionFailed => "SESSION_FAILED",
        }
    }

    /// What the customer is told on the merchant's error page.
    pub fn message(self) -> &'static str {
        match self {
            FailureCode::SystemError => "The payment could not be processed. You have not been charged.",
            FailureCode::SessionFailed => "This checkout session can no longer be paid. You have not been charged.",
        }
    }
}

/// A charge in progress on a session: who holds it and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentAttempt {
    pub number: u32,
    pub amount: MinorUnits,
    /// Past this instant the attempt is presumed dead (its process crashed) and a retry may
    /// take it over, with the same idempotency key so the card is never charged twice.
    pub lease_until: DateTime<Utc>,
    /// The rate counters this attempt counts on while it lasts (the card-testing counts of
    /// `checkout::guard`: its client's declines, its link's unsettled attempts): one more on each
    /// from its start, each given back when it ends other than declined. Empty when nothing
    /// limits it. Attempts stored with one counter (as `counter`) read as a list of it.
    #[serde(default, alias = "counter", deserialize_with = "one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub counters: Vec<RateCounter>,
}

/// `PaymentAttempt::counters` as stored: a list, or the one counter of an older attempt (or
/// null, as none).
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<RateCounter>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Many(Vec<RateCounter>),
        One(RateCounter),
    }
    Ok(match Option::<Stored>::deserialize(deserializer)? {
        Some(Stored::Many(counters)) => counters,
        Some(Stored::One(counter)) => vec![counter],
        None => Vec::new(),
    })
}

/// A rate counter that an attempt (or an open) counts on: its name, which names its window, and
/// when that window ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateCounter {
    pub name: String,
    pub window_end: DateTime<Utc>,
}

impl RateCounter {
    /// The counter `key` for the fixed window of `length` that `now` falls in
    /// (`clock::fixed_window`), named `{key}:{window number}` so every instance counts in the same
    /// one.
    pub fn in_window(key: &str, now: DateTime<Utc>, length: chrono::TimeDelta) -> RateCounter {
        let (index, window_end) = crate::clock::fixed_window(now, length);
        RateCounter { name: format!("{key}:{index}"), window_end }
    }
}

impl PaymentAttempt {
    /// How long one attempt may hold a session and a use before it is presumed dead. Far
    /// above the Lambda timeout, so a live attempt is never taken over.
    pub const LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

    /// How long a use stays held for an attempt whose customer is authenticating with the bank
    /// (3-D Secure): a challenge takes minutes, far beyond the lease. A customer who walks away
    /// frees the use when it lapses.
    pub const AUTHENTICATION_HOLD: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

    /// The key the processor deduplicates charges by.
    pub fn idempotency_key(&self, session: &SessionId) -> String {
        format!("{session}:{}", self.number)
    }
}

/// What a completed payment charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentResult {
    pub transaction_id: String,
    pub amount: MinorUnits,
    pub card_brand: String,
    pub card_last_four: String,
    pub completed_at: DateTime<Utc>,
}

impl CheckoutSession {
    /// How long a customer has to pay once they open a link.
    pub const LIFETIME: chrono::TimeDelta = chrono::TimeDelta::minutes(30);

    /// A fresh pending session for `link`, never outliving the link itself.
    pub fn open(link: &PaymentLink, now: DateTime<Utc>) -> Self {
        CheckoutSession {
            id: SessionId::generate(),
            link_id: link.id.clone(),
            merchant_id: link.merchant_id.clone(),
            checkout: link.checkout.for_session(),
            status: SessionStatus::Pending,
            created_at: now,
            expires_at: (now + Self::LIFETIME).min(link.expires_at),
            form_token: hex::encode(rand::random::<[u8; 16]>()),
            attempts: 0,
            in_flight: None,
            payment: None,
            failure_code: None,
            last_decline: None,
            link_has_usage_limit: link.usage_limit.is_some(),
        }
    }

    fn limited_unless_known() -> bool {
        true
    }

    /// The status as of `now`: a pending session past its expiry is expired.
    pub fn status_at(&self, now: DateTime<Utc>) -> SessionStatus {
        match self.status {
            SessionStatus::Pending if now >= self.expires_at => SessionStatus::Expired,
            status => status,
        }
    }

    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.status_at(now) == SessionStatus::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cart, Checkout};

    fn link(usage_limit: Option<u64>) -> PaymentLink {
        let checkout = Checkout {
            merchant_name: "Shop".into(),
            currency: "USD".parse().unwrap(),
            cart: Cart::Amount { amount: MinorUnits(500) },
            success_url: "https://shop.example/ok".into(),
            cancel_url: "https://shop.example/cancel".into(),
            error_url: "https://shop.example/error".into(),
            metadata: "{}".into(),
            appearance: Default::default(),
            stripe_account: None,
        };
        PaymentLink::new("m_1", checkout, usage_limit, 30, Utc::now())
    }

    #[test]
    fn a_session_knows_whether_its_link_is_limited_and_older_sessions_read_as_limited() {
        for (usage_limit, limited) in [(Some(1), true), (None, false)] {
            let session = CheckoutSession::open(&link(usage_limit), Utc::now());
            assert_eq!(session.link_has_usage_limit, limited);
            let mut stored = serde_json::to_value(&session).unwrap();
            assert_eq!(stored["linkHasUsageLimit"], limited);
            // Stored before the field existed: the claim path, which works for every link.
            stored.as_object_mut().unwrap().remove("linkHasUsageLimit");
            let read: CheckoutSession = serde_json::from_value(stored).unwrap();
            assert!(read.link_has_usage_limit);
        }
    }

    #[test]
    fn an_attempt_stored_with_one_counter_reads_as_a_list_of_it_from_either_store() {
        let counter = RateCounter { name: "declines:client:192.0.2.1:2947".into(), window_end: Utc::now() };
        let attempt = PaymentAttempt {
            number: 2,
            amount: MinorUnits(500),
            lease_until: Utc::now(),
            counters: vec![counter.clone()],
        };
        let mut stored = serde_json::to_value(&attempt).unwrap();
        assert_eq!(stored["counters"], serde_json::json!([counter]));
        // As attempts were stored before they counted on more than one counter.
        let counters = stored.as_object_mut().unwrap().remove("counters").unwrap();
        stored["counter"] = counters[0].clone();
        assert_eq!(serde_json::from_value::<PaymentAttempt>(stored.clone()).unwrap(), attempt);
        let item: serde_dynamo::Item = serde_dynamo::to_item(&stored).unwrap();
        assert_eq!(serde_dynamo::from_item::<_, PaymentAttempt>(item).unwrap(), attempt);
        // And with none, or null.
        stored["counter"] = serde_json::Value::Null;
        assert!(serde_json::from_value::<PaymentAttempt>(stored.clone()).unwrap().counters.is_empty());
        stored.as_object_mut().unwrap().remove("counter");
        assert!(serde_json::from_value::<PaymentAttempt>(stored).unwrap().counters.is_empty());
    }
}
