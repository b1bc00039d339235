//! Conditional writes: update and condition expressions with their names and values.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::Item;
use crate::store::StoreError;

/// sent are exactly those the expressions use, as DynamoDB requires.
#[derive(Clone)]
pub(super) struct Write {
    pub(super) update: String,
    pub(super) condition: String,
    aliases: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Write {
    pub(super) fn new(update: impl Into<String>, condition: impl Into<String>) -> Self {
        Write { update: update.into(), condition: condition.into(), aliases: HashMap::new(), values: HashMap::new() }
    }

    /// This write with `condition` added to its own, if it has one.
    pub(super) fn and(mut self, condition: &str) -> Self {
        self.condition = match self.condition.is_empty() {
            true => condition.to_owned(),
            false => format!("({}) AND {condition}", self.condition),
        };
        self
    }

    pub(super) fn alias(mut self, token: impl Into<String>, name: impl Into<String>) -> Self {
        self.aliases.insert(token.into(), name.into());
        self
    }

    pub(super) fn value(mut self, token: impl Into<String>, value: AttributeValue) -> Self {
        self.values.insert(token.into(), value);
        self
    }

    pub(super) fn names(&self) -> HashMap<String, String> {
        let mut names = HashMap::new();
        for expression in [&self.update, &self.condition] {
            let mut rest = expression.as_str();
            while let Some(start) = rest.find('#') {
                let after = &rest[start + 1..];
                let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
                let token = &rest[start..start + 1 + len];
                let name = self.aliases.get(token).cloned().unwrap_or_else(|| token[1..].to_owned());
                names.insert(token.to_owned(), name);
                rest = &after[len..];
            }
        }
        names
    }

    /// The condition, if the write has one (DynamoDB rejects an empty expression).
    pub(super) fn condition_expression(&self) -> Option<String> {
        (!self.condition.is_empty()).then(|| self.condition.clone())
    }

    /// DynamoDB rejects an empty values map.
    pub(super) fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    /// This write as one item of a transaction, returning the old item if its condition fails.
    pub(super) fn in_transaction(&self, table: &str, pk: &str) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .update_expression(&self.update)
            .set_condition_expression(self.condition_expression())
            .set_expression_attribute_names(Some(self.names()))
            .set_expression_attribute_values(self.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// This write's condition alone, checked on the item `pk` as one item of a transaction
    /// (nothing is written to it), returning the item if the condition fails.
    pub(super) fn check_in_transaction(&self, table: &str, pk: &str) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .condition_expression(&self.condition)
            .set_expression_attribute_names(Some(self.names()))
            .set_expression_attribute_values(self.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }
}

pub(super) fn put_new_request(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}
