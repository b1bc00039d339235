//! Rate counters: atomic increments, and several read in one BatchGetItem.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue};
use chrono::{DateTime, Utc};

use super::codec::attribute;
use super::errors::{back_off, contention};
use super::{DECISION_ROUNDS, DynamoStore, Item, classify, from_item, number};
use crate::store::{Counter, Counters, StoreError, keys, retention};

#[async_trait]
impl Counters for DynamoStore {
    async fn increment_counter(&self, name: &str, window_end: DateTime<Utc>) -> Result<u64, StoreError> {
        let pk = keys::counter(name);
        // ADD creates the item at 0 and increments atomically; the TTL is set once.
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.clone()))
            .update_expression(
                "ADD #count :one SET #ttl = if_not_exists(#ttl, :ttl), #windowEnd = if_not_exists(#windowEnd, :end)",
            )
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#windowEnd", "windowEnd")
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":ttl", number(retention::counter(window_end).timestamp()))
            .expression_attribute_values(":end", attribute(&pk, &window_end)?)
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| classify(e, "counter"))?;
        let counted = output.attributes.as_ref().and_then(|item| item.get("count")).and_then(|count| count.as_n().ok());
        counted
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| StoreError::Corrupt { key: pk, detail: "counter without a count".into() })
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
    /// `read_counters` in one BatchGetItem (strongly consistent), retrying unprocessed keys.
    async fn batch_read_counters(&self, names: &[&str]) -> Result<Vec<u64>, StoreError> {
        let pks: Vec<String> = names.iter().map(|name| keys::counter(name)).collect();
        let mut pending: Vec<Item> =
            pks.iter().map(|pk| HashMap::from([("pk".to_owned(), AttributeValue::S(pk.clone()))])).collect();
        pending.dedup();
        let mut counts: HashMap<String, u64> = HashMap::new();
        for round in 0..DECISION_ROUNDS as u32 {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Unavailable(format!("counters: {e}")))?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| classify(e, "counters"))?;
            for item in output.responses.and_then(|mut tables| tables.remove(&self.table)).unwrap_or_default() {
                let pk = item.get("pk").and_then(|pk| pk.as_s().ok()).cloned().unwrap_or_default();
                let counter: Counter = from_item(&pk, item)?;
                counts.insert(pk, counter.count);
            }
            match output.unprocessed_keys.and_then(|mut tables| tables.remove(&self.table)) {
                Some(unprocessed) if !unprocessed.keys.is_empty() => {
                    pending = unprocessed.keys;
                    back_off(round).await;
                }
                _ => return Ok(pks.iter().map(|pk| counts.get(pk).copied().unwrap_or(0)).collect()),
            }
        }
        Err(contention("read_counters"))
    }
}
