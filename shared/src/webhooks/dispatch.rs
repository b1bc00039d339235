//! One invocation of the deliver-webhooks function on AWS, whatever woke it: a DynamoDB Streams
//! batch (the keys of new events) or the one-minute schedule (retries). The records are not
//! read: each names an event the outbox already holds due, and the outbox — not the stream —
//! says what to send, so a receiver that fails is retried on its schedule from the store and
//! never fails the batch. Only a store error does: the stream then retries the batch (bisected,
//! then to the dead-letter queue) and nothing is lost, since the events stay due.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::deliver::{Sender, deliver_all_due};
use crate::store::{StoreError, Webhooks};

/// Delivers what is due and answers the stream's partial-batch response (no record failed).
pub async fn on_wake_up(
    store: &(impl Webhooks + ?Sized),
    sender: &Sender,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<Value, StoreError> {
    let attempts = deliver_all_due(store, sender, now).await?;
    tracing::info!(attempts, "webhook dispatcher woke up");
    Ok(json!({ "batchItemFailures": [] }))
}

/// `paylinks serve`'s dispatcher: every `period`, what is due goes out (after a restart too: the
/// outbox is in the store). A store error waits for the next tick.
pub async fn deliver_every(
    period: Duration,
    store: &(impl Webhooks + ?Sized),
    sender: &Sender,
    now: impl Fn() -> DateTime<Utc>,
) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = deliver_all_due(store, sender, &now).await {
            tracing::warn!(store_error = %error, "webhook deliveries wait for the store");
        }
    }
}
