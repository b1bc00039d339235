//! Model values as DynamoDB items and attributes, and back.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{BLOCKED_UNTIL_NANOS, EXPIRES_AT_NANOS, Item};
use crate::model::{Event, PaymentLink, SessionStatus};
use crate::store::{StoreError, keys, retention};

/// A link as stored: the model, its TTL, its place in the merchant's listing (`gsi1`) and
/// its expiry as a number for conditions.
pub(super) fn link_item(link: &PaymentLink) -> Item {
    let mut item = with_ttl(to_item(keys::link(&link.id), link), retention::link(link));
    item.insert("gsi1pk".to_owned(), AttributeValue::S(keys::merchant(&link.merchant_id)));
    // ULIDs sort by creation time: the index orders a merchant's links by age.
    item.insert("gsi1sk".to_owned(), AttributeValue::S(link.id.to_string()));
    item.insert(EXPIRES_AT_NANOS.to_owned(), epoch_nanos(link.expires_at));
    if let Some(until) = link.blocked_until {
        item.insert(BLOCKED_UNTIL_NANOS.to_owned(), epoch_nanos(until));
    }
    item
}

/// An event as stored: the model, its TTL and its place in the merchant's listing (`gsi1`).
pub(super) fn event_item(event: &Event) -> Item {
    let mut item = with_ttl(to_item(keys::event(&event.id), event), retention::event(event));
    item.insert("gsi1pk".to_owned(), AttributeValue::S(keys::merchant_events(&event.merchant_id)));
    item.insert("gsi1sk".to_owned(), AttributeValue::S(event.id.to_string()));
    // In the outbox (`gsi2`) while a delivery is due.
    if let Some(due_at) = event.due_at {
        item.insert("gsi2pk".to_owned(), AttributeValue::S(DUE_PARTITION.to_owned()));
        item.insert("gsi2sk".to_owned(), AttributeValue::S(keys::due(due_at)));
    }
    item
}

/// The one partition of `gsi2`: deliveries are few next to payments, and a dispatcher reads
/// them in order of when they are due.
pub(super) const DUE_PARTITION: &str = "DUE";

pub(super) fn to_item<T: Serialize>(pk: String, value: &T) -> Item {
    // Model types have string keys and integer numbers only: serialization cannot fail.
    let mut item: Item = serde_dynamo::to_item(value).expect("model types always serialize");
    item.insert("pk".to_owned(), AttributeValue::S(pk));
    item
}

pub(super) fn from_item<T: DeserializeOwned>(pk: &str, item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt { key: pk.to_owned(), detail: e.to_string() })
}

/// A model value as stored inside an item: times in exactly the text `to_item` writes.
pub(super) fn attribute<T: Serialize>(pk: &str, value: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value)
        .map_err(|e| StoreError::Corrupt { key: pk.to_owned(), detail: format!("cannot serialize: {e}") })
}

pub(super) fn number(n: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// An instant as a number that compares exactly: nanoseconds since the epoch.
pub(super) fn epoch_nanos(instant: DateTime<Utc>) -> AttributeValue {
    number(i128::from(instant.timestamp()) * 1_000_000_000 + i128::from(instant.timestamp_subsec_nanos()))
}

/// The attribute at `path` (names, into nested maps) exactly as stored.
pub(super) fn stored(pk: &str, item: &Item, path: &[&str]) -> Result<AttributeValue, StoreError> {
    let missing = || StoreError::Corrupt { key: pk.to_owned(), detail: format!("no attribute {}", path.join(".")) };
    let (first, rest) = path.split_first().ok_or_else(missing)?;
    let mut value = item.get(*first).ok_or_else(missing)?;
    for name in rest {
        value = value.as_m().ok().and_then(|map| map.get(*name)).ok_or_else(missing)?;
    }
    Ok(value.clone())
}

/// The item with `ttl`: when DynamoDB may sweep it (epoch seconds). Reads decide expiry by the
/// clock; TTL only cleans up, days late at worst.
pub(super) fn with_ttl(mut item: Item, sweep_at: DateTime<Utc>) -> Item {
    item.insert("ttl".to_owned(), AttributeValue::N(sweep_at.timestamp().to_string()));
    item
}

pub(super) fn status(pk: &str, status: SessionStatus) -> Result<AttributeValue, StoreError> {
    attribute(pk, &status)
}
