//! Where a merchant's events are pushed (webhook endpoints), and how each event's deliveries
//! stand.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{EventType, WebhookEndpointId};

/// One URL the merchant's events are POSTed to, signed with `secret` (Standard Webhooks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEndpoint {
    pub id: WebhookEndpointId,
    pub url: String,
    /// The event types sent; empty: all of them.
    #[serde(default)]
    pub events: Vec<EventType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `whsec_` + base64 of 24 random bytes: the HMAC key, shown to the merchant once.
    pub secret: String,
    pub created_at: DateTime<Utc>,
}

impl WebhookEndpoint {
    /// How many endpoints one merchant may have.
    pub const MAX_PER_MERCHANT: usize = 16;

    pub fn wants(&self, kind: EventType) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }
}

/// How one event's delivery to one endpoint stands.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Attempts made so far.
    pub attempts: u32,
    pub delivered: bool,
    /// The HTTP status of the last attempt; None when it got no answer (refused, timed out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    /// When the next attempt is due; None once delivered or given up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Every endpoint's delivery of one event, by endpoint id.
pub type Deliveries = BTreeMap<String, Delivery>;
