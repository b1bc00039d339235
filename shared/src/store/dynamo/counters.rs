//! Rate counters: atomic increments, and the counts attempts take and give back (`CounterLimit`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::codec::attribute;
use super::write::Write;
use super::{DynamoStore, Written, from_item, number};
use crate::model::RateCounter;
use crate::store::{ClientCount, Counter, CounterLimit, Counters, StoreError, keys, retention};

/// One more on the counter `pk`, with `client` among its clients when given: ADD creates the
/// item at 0 and increments atomically (a string set keeps each client once); the TTL and the
/// window are set once. Unconditional, so it can go in a transaction with the write it counts.
fn counting(pk: &str, window_end: DateTime<Utc>, client: Option<&str>) -> Result<Write, StoreError> {
    let write = adding(pk, 1, window_end, client.is_some())?;
    Ok(match client {
        Some(client) => write.value(":client", AttributeValue::Ss(vec![client.to_owned()])),
        None => write,
    })
}

/// `n` added to the counter `pk` (and the clients in `:client` to its set, when `clients`).
fn adding(pk: &str, n: i64, window_end: DateTime<Utc>, clients: bool) -> Result<Write, StoreError> {
    let clients = if clients { ", #clients :client" } else { "" };
    let update = format!(
        "ADD #count :n{clients} SET #ttl = if_not_exists(#ttl, :ttl), #windowEnd = if_not_exists(#windowEnd, :end)"
    );
    Ok(Write::new(update, "")
        .value(":n", number(n))
        .value(":ttl", number(retention::counter(window_end).timestamp()))
        .value(":end", attribute(pk, &window_end)?))
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
}

impl DynamoStore {
    /// One more on the counter of `limit`, only while it is below the limit, as one item of the
    /// transaction that makes the write it counts (an attempt's begin, a session's open; see
    /// `CounterLimit`).
    pub(super) fn counting_within(&self, limit: &CounterLimit) -> Result<TransactWriteItem, StoreError> {
        let pk = keys::counter(&limit.counter.name);
        adding(&pk, 1, limit.counter.window_end, false)?
            .and("(attribute_not_exists(#count) OR #count < :limit)")
            .value(":limit", number(limit.limit))
            .in_transaction(&self.table, &pk)
    }

    /// The count an attempt took on `counter` given back, as one item of the transaction that
    /// ends it. Unconditional (a refusal would refuse the ending with it): should TTL have swept
    /// the counter already, its window being over, this leaves one below zero for that window,
    /// which nobody counts on any more and which reads as 0 (`Counter::count`) until TTL sweeps
    /// it again.
    pub(super) fn giving_back(&self, counter: &RateCounter) -> Result<TransactWriteItem, StoreError> {
        let pk = keys::counter(&counter.name);
        adding(&pk, -1, counter.window_end, false)?.in_transaction(&self.table, &pk)
    }

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
}
