//! Rate counters: atomic increments, and several read in one BatchGetItem.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::codec::attribute;
use super::{DynamoStore, Item, classify, from_item, number};
use crate::store::{ClientCount, Counter, Counters, StoreError, keys, retention};

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

    async fn count_client(
        &self,
        name: &str,
        client: Option<&str>,
        window_end: DateTime<Utc>,
    ) -> Result<ClientCount, StoreError> {
        let pk = keys::counter(name);
        let name = |token: &str, name: &str| (token.to_owned(), name.to_owned());
        let mut names = HashMap::from([name("#count", "count"), name("#ttl", "ttl"), name("#windowEnd", "windowEnd")]);
        let mut values = HashMap::from([
            (":one".to_owned(), number(1)),
            (":ttl".to_owned(), number(retention::counter(window_end).timestamp())),
            (":end".to_owned(), attribute(&pk, &window_end)?),
        ]);
        let mut update = "ADD #count :one".to_owned();
        if let Some(client) = client {
            // ADD to a string set keeps each client once, in the same atomic write as the count.
            update.push_str(", #clients :client");
            names.extend([name("#clients", "clients")]);
            values.insert(":client".to_owned(), AttributeValue::Ss(vec![client.to_owned()]));
        }
        update.push_str(" SET #ttl = if_not_exists(#ttl, :ttl), #windowEnd = if_not_exists(#windowEnd, :end)");
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.clone()))
            .update_expression(update)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| classify(e, "counter"))?;
        let counter: Counter = from_item(&pk, output.attributes.unwrap_or_default())?;
        Ok(ClientCount { count: counter.count, clients: counter.clients.len() as u64 })
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
    /// `read_counters` in one BatchGetItem (strongly consistent).
    async fn batch_read_counters(&self, names: &[&str]) -> Result<Vec<u64>, StoreError> {
        let pks: Vec<String> = names.iter().map(|name| keys::counter(name)).collect();
        let items = self.batch_get(&pks).await?;
        pks.iter().map(|pk| counter_count(pk, items.get(pk).cloned())).collect()
    }
}

/// The count of the counter item `pk` as read; 0 when there is none.
pub(super) fn counter_count(pk: &str, item: Option<Item>) -> Result<u64, StoreError> {
    Ok(item.map(|item| from_item::<Counter>(pk, item)).transpose()?.map_or(0, |counter| counter.count))
}
