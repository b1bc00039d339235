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
    /// After a rotation, the secret before, which keeps signing beside the new one until
    /// `previous_secret_until`, so the merchant can switch without missing a delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Since when every attempt to it has failed; None while it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    /// Set when it was disabled for failing too long: it gets nothing more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
}

impl WebhookEndpoint {
    /// How many endpoints one merchant may have.
    pub const MAX_PER_MERCHANT: usize = 16;

    /// An endpoint whose every attempt failed for this long is disabled.
    pub const FAILING_LIMIT: chrono::TimeDelta = chrono::TimeDelta::days(5);

    /// How long a rotated-out secret keeps signing.
    pub const ROTATION_OVERLAP: chrono::TimeDelta = chrono::TimeDelta::hours(24);

    pub fn wants(&self, kind: EventType) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }

    /// Whether deliveries of `kind` go to it: it wants them and is not disabled.
    pub fn takes(&self, kind: EventType) -> bool {
        self.wants(kind) && self.disabled_reason.is_none()
    }

    /// After an attempt at `now` that succeeded or not (`status` the answer, if any): this
    /// endpoint as it now stands, when that changed (it started or stopped failing, or has failed
    /// for [`Self::FAILING_LIMIT`] and is disabled).
    pub fn after_attempt(&self, succeeded: bool, status: Option<u16>, now: DateTime<Utc>) -> Option<WebhookEndpoint> {
        match (succeeded, self.failing_since) {
            (true, None) => None,
            (true, Some(_)) => Some(WebhookEndpoint { failing_since: None, ..self.clone() }),
            (false, None) => Some(WebhookEndpoint { failing_since: Some(now), ..self.clone() }),
            (false, Some(since)) if now - since >= Self::FAILING_LIMIT && self.disabled_reason.is_none() => {
                let last = status.map_or("no answer".to_owned(), |status| format!("HTTP {status}"));
                let reason = format!(
                    "Disabled at {}: every delivery failed for {} days since {} (last: {last}). Fix the receiver, \
                     then register the endpoint again.",
                    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    Self::FAILING_LIMIT.num_days(),
                    since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                );
                Some(WebhookEndpoint { disabled_reason: Some(reason), ..self.clone() })
            }
            (false, Some(_)) => None,
        }
    }

    /// This endpoint with the health (`failing_since`, `disabled_reason`) of `measured`, a copy
    /// of it read earlier: everything else stays as it is now (a secret rotated meanwhile).
    pub fn with_health_of(self, measured: &WebhookEndpoint) -> WebhookEndpoint {
        WebhookEndpoint {
            failing_since: measured.failing_since,
            disabled_reason: measured.disabled_reason.clone(),
            ..self
        }
    }

    /// The secrets deliveries are signed with at `now`: the current one, and the one before
    /// during its overlap.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let previous =
            self.previous_secret.as_deref().filter(|_| self.previous_secret_until.is_some_and(|until| now < until));
        std::iter::once(self.secret.as_str()).chain(previous).collect()
    }

    /// This endpoint with `secret` as its secret and the current one signing beside it until
    /// the overlap ends.
    pub fn rotated(self, secret: String, now: DateTime<Utc>) -> WebhookEndpoint {
        WebhookEndpoint {
            previous_secret: Some(self.secret.clone()),
            previous_secret_until: Some(now + Self::ROTATION_OVERLAP),
            secret,
            ..self
        }
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
    /// The latest attempts, oldest first, at most [`Delivery::HISTORY_KEPT`]: the merchant's
    /// delivery log. Kept across a redelivery, which starts the count again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<DeliveryAttempt>,
}

impl Delivery {
    /// Attempts kept in the log of one event's delivery to one endpoint: a whole retry
    /// schedule, and a few redeliveries.
    pub const HISTORY_KEPT: usize = 16;

    /// Records an attempt made at `at` that got `status` (None: no answer) after `latency_ms`,
    /// and schedules the next one with `next_attempt` when it failed (given the attempts made).
    pub fn record_attempt(
        &mut self,
        at: DateTime<Utc>,
        status: Option<u16>,
        latency_ms: u64,
        next_attempt: impl FnOnce(u32) -> Option<DateTime<Utc>>,
    ) {
        self.attempts += 1;
        self.last_status = status;
        self.delivered = status.is_some_and(|status| (200..300).contains(&status));
        self.next_attempt_at = if self.delivered { None } else { next_attempt(self.attempts) };
        let attempt =
            DeliveryAttempt { attempt: self.attempts, at, status, latency_ms, next_attempt_at: self.next_attempt_at };
        self.history.push(attempt);
        let excess = self.history.len().saturating_sub(Self::HISTORY_KEPT);
        self.history.drain(..excess);
    }

    /// This delivery made anew (a redelivery): no attempt counted, its log kept.
    pub fn restarted(self) -> Delivery {
        Delivery { history: self.history, ..Delivery::default() }
    }
}

/// One attempt to deliver an event to an endpoint, as the merchant's delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryAttempt {
    /// 1 for the first attempt (of the delivery, or of a redelivery).
    pub attempt: u32,
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status; None when it did not answer (refused, timed out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// When the retry this attempt scheduled was due; None when it succeeded or was the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Every endpoint's delivery of one event, by endpoint id.
pub type Deliveries = BTreeMap<String, Delivery>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delivery_log_keeps_the_latest_attempts_and_survives_a_redelivery() {
        let start = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        let mut delivery = Delivery::default();
        for n in 0..20 {
            let at = start + chrono::TimeDelta::minutes(n);
            delivery.record_attempt(at, Some(503), 10, |made| Some(at + chrono::TimeDelta::seconds(i64::from(made))));
        }
        assert_eq!((delivery.attempts, delivery.delivered, delivery.last_status), (20, false, Some(503)));
        assert_eq!(delivery.history.len(), Delivery::HISTORY_KEPT);
        assert_eq!(delivery.history[0].attempt, 5, "the oldest attempts go first");
        assert_eq!(
            delivery.next_attempt_at,
            Some(start + chrono::TimeDelta::minutes(19) + chrono::TimeDelta::seconds(20))
        );

        let mut again = delivery.restarted();
        assert_eq!((again.attempts, again.next_attempt_at, again.history.len()), (0, None, Delivery::HISTORY_KEPT));
        again.record_attempt(start + chrono::TimeDelta::hours(1), Some(200), 12, |_| unreachable!("delivered"));
        let last = again.history.last().unwrap();
        assert_eq!((last.attempt, last.status, last.next_attempt_at, again.delivered), (1, Some(200), None, true));
    }
}
