//! Events: written by the transactions of the changes they report (payments.rs, sessions.rs),
//! listed here from the merchant's partition of `gsi1`, newest first.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::codec::from_item;
use super::errors::classify;
use super::{DynamoStore, GSI1};
use crate::model::{Event, EventId, EventType};
use crate::store::{EventPage, Events, StoreError, keys, retention};

/// Items a filtered listing reads per query (DynamoDB stops at 1 MB first).
const FILTERED_READ: usize = 1000;

/// Queries one listing makes at most (unfiltered pages fill in one).
const FILTERED_QUERIES: usize = 10;

#[async_trait]
impl Events for DynamoStore {
    async fn list_events(
        &self,
        merchant_id: &str,
        kind: Option<EventType>,
        limit: usize,
        before: Option<&EventId>,
        now: DateTime<Utc>,
    ) -> Result<EventPage, StoreError> {
        let partition = AttributeValue::S(keys::merchant_events(merchant_id));
        let mut start = before.map(|id| {
            HashMap::from([
                ("pk".to_owned(), AttributeValue::S(keys::event(id))),
                ("gsi1pk".to_owned(), partition.clone()),
                ("gsi1sk".to_owned(), AttributeValue::S(id.to_string())),
            ])
        });
        // A filtered query may return short pages: keep reading until the page (and one more,
        // which tells whether another page exists) is full or the partition ends. DynamoDB
        // applies `Limit` before the filter, so a filtered read takes many items a query, and a
        // request reads at most `FILTERED_QUERIES` of them: a rare type among many events comes
        // back as a short page with a cursor, never as a request that runs out of time. The
        // index is eventually consistent: an event of a moment ago may show up a moment later.
        let mut events = Vec::with_capacity(limit + 1);
        let read_per_query = if kind.is_some() { FILTERED_READ } else { limit + 1 };
        for _ in 0..FILTERED_QUERIES {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("#gsi1pk = :merchant")
                .expression_attribute_names("#gsi1pk", "gsi1pk")
                .expression_attribute_values(":merchant", partition.clone())
                .scan_index_forward(false)
                .limit(i32::try_from(read_per_query).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take());
            if let Some(kind) = kind {
                query = query
                    .filter_expression("#type = :type")
                    .expression_attribute_names("#type", "type")
                    .expression_attribute_values(":type", AttributeValue::S(kind.as_str().to_owned()));
            }
            let output = query.send().await.map_err(|e| classify(e, "list events"))?;
            for item in output.items.unwrap_or_default() {
                let event: Event = from_item("gsi1", item)?;
                if retention::event(&event) <= now {
                    return Ok(EventPage::from_one_more(events, limit)); // older ones are older still (TTL sweeps them)
                }
                events.push(event);
            }
            start = output.last_evaluated_key.filter(|_| events.len() <= limit);
            if start.is_none() {
                return Ok(EventPage::from_one_more(events, limit));
            }
        }
        // Read as much as one request may: the page so far, and the next one from where it stopped.
        let next = start.as_ref().and_then(|key| key.get("gsi1sk")?.as_s().ok()?.parse().ok());
        Ok(EventPage { events, next })
    }
}
