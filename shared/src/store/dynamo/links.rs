//! Links: conditional puts, the active switch, the merchant's listing on `gsi1`; idempotent creates.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use chrono::{DateTime, Utc};

use super::codec::{attribute, epoch_nanos, event_item, link_item, to_item, with_ttl};
use super::errors::{cancellation_reasons, classify_transaction, contention, failure, send_transaction};
use super::write::{Write, put_new_request};
use super::{DynamoStore, EXPIRES_AT_NANOS, GSI1, Written, classify, from_item};
use crate::model::{Event, IdempotencyRecord, LinkId, PaymentLink};
use crate::store::{Idempotency, IdempotentCreate, LinkPage, Links, StoreError, keys, retention};

#[async_trait]
impl Links for DynamoStore {
    async fn create_link(&self, link: &PaymentLink) -> Result<(), StoreError> {
        self.put_new(link_item(link), "link exists").await
    }

    async fn get_link(&self, id: &LinkId) -> Result<Option<PaymentLink>, StoreError> {
        self.get(keys::link(id)).await
    }

    async fn set_link_active(
        &self,
        id: &LinkId,
        active: bool,
        pause_reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<PaymentLink>, StoreError> {
        let pk = keys::link(id);
        if !active {
            return self.switch_off(&pk, pause_reason, now).await;
        }
        let write = match pause_reason {
            Some(reason) => Write::new("SET #active = :active, #pauseReason = :reason", "attribute_exists(#pk)")
                .value(":reason", AttributeValue::S(reason.to_owned())),
            // Switched on by its merchant: no pause reason, and no card-testing block either.
            None => Write::new(
                "SET #active = :active REMOVE #pauseReason, #blockedUntil, #blockedUntilNanos",
                "attribute_exists(#pk)",
            ),
        }
        .value(":active", AttributeValue::Bool(active));
        match self.update(&pk, &write, ReturnValue::AllNew).await? {
            Written::Applied(item) => from_item(&pk, item).map(Some),
            Written::Refused(_) => Ok(None),
        }
    }

    async fn block_payments(&self, id: &LinkId, until: DateTime<Utc>) -> Result<(), StoreError> {
        let pk = keys::link(id);
        let write = Write::new(
            "SET #blockedUntil = :until, #blockedUntilNanos = :nanos",
            "attribute_exists(#pk) AND (attribute_not_exists(#blockedUntilNanos) OR #blockedUntilNanos < :nanos)",
        )
        .value(":until", attribute(&pk, &until)?)
        .value(":nanos", epoch_nanos(until));
        // Refused: no such link, or blocked for longer already.
        self.update(&pk, &write, ReturnValue::None).await.map(|_| ())
    }

    async fn list_links(
        &self,
        merchant_id: &str,
        limit: usize,
        before: Option<&LinkId>,
    ) -> Result<LinkPage, StoreError> {
        let partition = AttributeValue::S(keys::merchant(merchant_id));
        let start = before.map(|id| {
            HashMap::from([
                ("pk".to_owned(), AttributeValue::S(keys::link(id))),
                ("gsi1pk".to_owned(), partition.clone()),
                ("gsi1sk".to_owned(), AttributeValue::S(id.to_string())),
            ])
        });
        // One more than asked tells whether another page exists. The index is eventually
        // consistent: a link created a moment ago may show up a moment later.
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("#gsi1pk = :merchant")
            .expression_attribute_names("#gsi1pk", "gsi1pk")
            .expression_attribute_values(":merchant", partition)
            .scan_index_forward(false)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| classify(e, "list"))?;
        let links = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<PaymentLink>("gsi1", item))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LinkPage::from_one_more(links, limit))
    }
}

#[async_trait]
impl Idempotency for DynamoStore {
    async fn create_link_idempotent(
        &self,
        link: &PaymentLink,
        record: &IdempotencyRecord,
        now: DateTime<Utc>,
    ) -> Result<IdempotentCreate, StoreError> {
        let record_pk = keys::idempotency(&record.merchant_id, &record.key);
        let mut record_item = with_ttl(to_item(record_pk.clone(), record), retention::idempotency(record));
        record_item.insert(EXPIRES_AT_NANOS.to_owned(), epoch_nanos(record.expires_at));
        // An expired record (TTL sweeps late) counts as absent and is replaced.
        let put_record = Put::builder()
            .table_name(&self.table)
            .set_item(Some(record_item))
            .condition_expression("attribute_not_exists(#pk) OR #expiresAtNanos <= :now")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#expiresAtNanos", EXPIRES_AT_NANOS)
            .expression_attribute_values(":now", epoch_nanos(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let request = self
            .client
            .transact_write_items()
            .transact_items(put_new_request(&self.table, link_item(link))?)
            .transact_items(TransactWriteItem::builder().put(put_record).build());
        let error = match send_transaction(&request).await {
            Ok(_) => return Ok(IdempotentCreate::Created),
            Err(error) => error,
        };
        let reasons = cancellation_reasons(&error);
        match reasons.get(1).filter(|reason| failure(reason) == Some("ConditionalCheckFailed")) {
            Some(reason) => match reason.item() {
                Some(existing) => from_item(&record_pk, existing.clone()).map(IdempotentCreate::Replay),
                None => self
                    .get(record_pk.clone())
                    .await?
                    .map(IdempotentCreate::Replay)
                    .ok_or_else(|| contention("idempotent create")),
            },
            None => Err(classify_transaction(error, "link exists")),
        }
    }
}

impl DynamoStore {
    /// Switches a link off; an active one with its `payment_link.deactivated` event, in one
    /// transaction conditioned on the link still being active as read.
    async fn switch_off(
        &self,
        pk: &str,
        pause_reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<PaymentLink>, StoreError> {
        let write = match pause_reason {
            Some(reason) => Write::new("SET #active = :off, #pauseReason = :reason", "attribute_exists(#pk)")
                .value(":reason", AttributeValue::S(reason.to_owned())),
            None => Write::new("SET #active = :off REMOVE #pauseReason", "attribute_exists(#pk)"),
        }
        .value(":off", AttributeValue::Bool(false));
        let Some(item) = self.get_item(pk).await? else { return Ok(None) };
        let link: PaymentLink = from_item(pk, item)?;
        if link.active {
            let event = Event::link_deactivated(&link, pause_reason, now);
            let deactivating = write.clone().and("#active = :on").value(":on", AttributeValue::Bool(true));
            let request = self
                .client
                .transact_write_items()
                .transact_items(deactivating.in_transaction(&self.table, pk)?)
                .transact_items(put_new_request(&self.table, event_item(&event))?);
            match send_transaction(&request).await {
                Ok(_) => return self.get_link_by_pk(pk).await,
                // Switched off meanwhile (its event written by that switch): just set the reason.
                Err(error)
                    if cancellation_reasons(&error).first().and_then(failure) == Some("ConditionalCheckFailed") => {}
                Err(error) => return Err(classify_transaction(error, "deactivate")),
            }
        }
        match self.update(pk, &write, ReturnValue::AllNew).await? {
            Written::Applied(item) => from_item(pk, item).map(Some),
            Written::Refused(_) => Ok(None),
        }
    }

    async fn get_link_by_pk(&self, pk: &str) -> Result<Option<PaymentLink>, StoreError> {
        self.get_item(pk).await?.map(|item| from_item(pk, item)).transpose()
    }
}
