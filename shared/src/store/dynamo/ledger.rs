//! The sandbox processor's charge records.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::codec::{to_item, with_ttl};
use super::errors::contention;
use super::write::Write;
use super::{DynamoStore, from_item, retry_conflicts};
use crate::model::ChargeRecord;
use crate::store::{ChargeLedger, StoreError, keys, retention};

#[async_trait]
impl ChargeLedger for DynamoStore {
    async fn record_charge(&self, record: &ChargeRecord) -> Result<ChargeRecord, StoreError> {
        let pk = keys::charge(&record.idempotency_key);
        // Kept as long as a session is: merchants and support look charges up long after.
        let item = with_ttl(to_item(pk.clone(), record), retention::charge(record));
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", "pk")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match retry_conflicts(|| request.clone().send()).await {
            Ok(_) => Ok(record.clone()),
            Err(error) => match error.as_service_error() {
                // The first record under this key wins: return it.
                Some(PutItemError::ConditionalCheckFailedException(refused)) => match &refused.item {
                    Some(existing) => from_item(&pk, existing.clone()),
                    None => self.get(pk.clone()).await?.ok_or_else(|| contention("record_charge")),
                },
                _ => Err(StoreError::Unavailable(DisplayErrorContext(&error).to_string())),
            },
        }
    }

    async fn void_charge(&self, idempotency_key: &str) -> Result<(), StoreError> {
        let write =
            Write::new("SET #voided = :true", "attribute_exists(#pk)").value(":true", AttributeValue::Bool(true));
        // Refused: there is no such charge, nothing to void.
        self.update(&keys::charge(idempotency_key), &write, ReturnValue::None).await.map(|_| ())
    }

    async fn get_charge(&self, idempotency_key: &str) -> Result<Option<ChargeRecord>, StoreError> {
        self.get(keys::charge(idempotency_key)).await
    }
}
