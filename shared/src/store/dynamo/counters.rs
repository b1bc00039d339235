//! Rate counters: atomic increments, and several read in one BatchGetItem.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::codec::attribute;
use super::write::Write;
use super::{DynamoStore, Item, Written, from_item, number};
use crate::store::{ClientCount, Counter, Counters, StoreError, keys, retention};

/// One more on the counter `pk`, with `client` among its clients when given: ADD creates the
/// item at 0 and increments atomically (a string set keeps each client once); the TTL and the
/// window are set once. Unconditional, so it can go in a transaction with the write it counts.
pub(super) fn counting(pk: &str, window_end: DateTime<Utc>, client: Option<&str>) -> Result<Write, StoreError> {
    let clients = if client.is_some() { ", #clients :client" } else { "" };
    let update = format!(
        "ADD #count :one{clients} SET #ttl = if_not_exists(#ttl, :ttl), #windowEnd = if_not_exists(#windowEnd, :end)"
    );
    let write = Write::new(update, "")
        .value(":one", number(1))
        .value(":ttl", number(retention::counter(window_end).timestamp()))
        .value(":end", attribute(pk, &window_end)?);
    Ok(match client {
        Some(client) => write.value(":client", AttributeValue::Ss(vec![client.to_owned()])),
        None => write,
    })
}

#[async_trait]
impl Counters for DynamoStore {
    async fn increment_counter(&self, name: &str, window_end: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(self.count(name, window_end, None).await?.count)
    }

    async fn count_client(
        &self,
        name: &str,
        client: Option<&str>,
        window_end: DateTime<Utc>,
    ) -> Result<ClientCount, StoreError> {
        self.count(name, window_end, client).await
    }

    async fn read_counter(&self, name: &str) -> Result<u64, StoreError> {
        Ok(self.get::<Counter>(keys::counter(name)).await?.map_or(0, |counter| counter.count))
    }

    async fn read_counters(&self, names: &[&str]) -> Result<Vec<u64>, StoreError> {
        match names {
            [] => Ok(Vec::new()),
            [name] => Ok(vec![self.read_counter(name).await?]),
            _ => self.batch_read_counters(names).await,
        }
    }
}

impl DynamoStore {
    /// One more on the counter `name` (see [`counting`]): what it counted, worked out from the
    /// counter as the write found it (ALL_OLD: whether the client is new is known only from it).
    async fn count(
        &self,
        name: &str,
        window_end: DateTime<Utc>,
        client: Option<&str>,
    ) -> Result<ClientCount, StoreError> {
        let pk = keys::counter(name);
        match self.update(&pk, &counting(&pk, window_end, client)?, ReturnValue::AllOld).await? {
            Written::Applied(item) if item.is_empty() => Ok(ClientCount::after(None, client)),
            Written::Applied(item) => Ok(ClientCount::after(Some(&from_item(&pk, item)?), client)),
            Written::Refused(_) => {
                Err(StoreError::Corrupt { key: pk, detail: "an unconditional count refused".into() })
            }
        }
    }

    /// `read_counters` in one BatchGetItem (strongly consistent).
    async fn batch_read_counters(&self, names: &[&str]) -> Result<Vec<u64>, StoreError> {
        let pks: Vec<String> = names.iter().map(|name| keys::counter(name)).collect();
        counts(&self.batch_get(&pks).await?, &pks)
    }
}

/// The counts of the counter items `pks` among `items` as read, in order; 0 for one not there.
pub(super) fn counts(items: &HashMap<String, Item>, pks: &[String]) -> Result<Vec<u64>, StoreError> {
    let count = |pk: &String| -> Result<u64, StoreError> {
        let counter = items.get(pk).map(|item| from_item::<Counter>(pk, item.clone())).transpose()?;
        Ok(counter.map_or(0, |counter| counter.count))
    };
    pks.iter().map(count).collect()
}
