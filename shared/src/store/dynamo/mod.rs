//! The DynamoDB store: one table, `pk` string key, TTL on `ttl`, GSI `gsi1` for listings.
//!
//! Items are the model types serialized attribute-for-attribute (serde_dynamo), plus the key,
//! TTL and index attributes. Every create is a conditional put on `attribute_not_exists(pk)`:
//! nothing is ever overwritten by accident.
//!
//! Paying: every decision is one conditional write (a transaction for `complete_payment`) whose
//! condition states exactly what the decision relies on; a refused write returns the item as it
//! was (`ALL_OLD`), from which the refusal is explained or the decision taken again. Times in
//! conditions: RFC 3339 text with variable fractional digits does not compare as text, so
//!   - link items carry `expiresAtNanos`, their expiry as a number (epoch nanoseconds, exact),
//!     which `claim_use` compares with `now` (links never change their expiry);
//!   - session times (`expiresAt`, `inFlight.leaseUntil`) are compared in Rust on a consistent
//!     read, and the write is conditioned on those attributes still holding the exact values read.

mod codec;
mod counters;
mod errors;
mod events;
mod ledger;
mod links;
mod merchants;
mod payments;
mod sessions;
mod table;
#[cfg(test)]
mod tests;
mod webhooks;
mod write;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue, ReturnValuesOnConditionCheckFailure};
use serde::de::DeserializeOwned;

use self::codec::{from_item, number};
use self::errors::{classify, retry_conflicts};
use self::write::Write;
use super::StoreError;

type Item = HashMap<String, AttributeValue>;

pub use table::{client_from_env, create_table};

pub const GSI1: &str = "gsi1";
/// Events with a webhook delivery due, by when (sparse: only those items carry `gsi2pk`).
pub const GSI2: &str = "gsi2";

/// A link's `expiresAt` as a number (epoch nanoseconds) for conditions; written at creation.
const EXPIRES_AT_NANOS: &str = "expiresAtNanos";
/// A link's `blockedUntil` as a number (epoch nanoseconds) for conditions; written with it.
const BLOCKED_UNTIL_NANOS: &str = "blockedUntilNanos";

/// How many times an operation takes its decision again after its write was refused because the
/// item changed in between, before it answers `Unavailable` (each refusal means another writer
/// made progress, so this is only reached under extreme contention).
const DECISION_ROUNDS: usize = 5;

/// Retries of a write refused with `TransactionConflict` (the item was in another transaction;
/// nothing was written, and the SDK does not retry these itself).
const CONFLICT_RETRIES: u32 = 4;

/// Hold entries returned in one write when a full link's lapsed holds are cleared (keeps the
/// expressions well under DynamoDB's 4 KB limit; one returned hold is enough to claim).
const LAPSED_PER_WRITE: usize = 50;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn table_from_env() -> Result<String, String> {
    std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set".to_owned())
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore { client, table: table.into() }
    }

    /// Configured the standard AWS way (region, credentials, `AWS_ENDPOINT_URL_DYNAMODB`),
    /// with the table named by `TABLE_NAME`: for the CLI.
    pub async fn from_env() -> Result<Self, String> {
        Ok(Self::new(client_from_env().await?, table_from_env()?))
    }

    /// A Lambda function's store: the table named by `TABLE_NAME`, with the function's own
    /// region and credentials (`crate::aws::lambda_config`).
    pub async fn from_lambda_env() -> Result<Self, String> {
        Ok(Self::new(Client::new(&crate::aws::lambda_config("DYNAMODB").await?), table_from_env()?))
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Strongly consistent read of an item as stored.
    async fn get_item(&self, pk: &str) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(e, "get"))?;
        Ok(output.item)
    }

    async fn get<T: DeserializeOwned>(&self, pk: String) -> Result<Option<T>, StoreError> {
        self.get_item(&pk).await?.map(|item| from_item(&pk, item)).transpose()
    }

    /// The items with these keys that exist, by key: one strongly consistent BatchGetItem (and
    /// one more per round of keys DynamoDB leaves unprocessed).
    async fn batch_get(&self, pks: &[String]) -> Result<HashMap<String, Item>, StoreError> {
        // DynamoDB refuses a batch naming one key twice.
        let unique: std::collections::BTreeSet<&String> = pks.iter().collect();
        let mut pending: Vec<Item> =
            unique.into_iter().map(|pk| HashMap::from([("pk".to_owned(), AttributeValue::S(pk.clone()))])).collect();
        let mut found = HashMap::new();
        for round in 0..DECISION_ROUNDS as u32 {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Unavailable(format!("batch get: {e}")))?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| classify(e, "batch get"))?;
            for item in output.responses.and_then(|mut tables| tables.remove(&self.table)).unwrap_or_default() {
                if let Some(pk) = item.get("pk").and_then(|pk| pk.as_s().ok()) {
                    found.insert(pk.clone(), item);
                }
            }
            match output.unprocessed_keys.and_then(|mut tables| tables.remove(&self.table)) {
                Some(unprocessed) if !unprocessed.keys.is_empty() => {
                    pending = unprocessed.keys;
                    errors::back_off(round).await;
                }
                _ => return Ok(found),
            }
        }
        Err(errors::contention("batch get"))
    }

    async fn put_new(&self, item: Item, conflict: &'static str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(e, conflict))
    }

    /// One conditional UpdateItem of the item `pk`.
    async fn update(&self, pk: &str, write: &Write, returning: ReturnValue) -> Result<Written, StoreError> {
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .update_expression(&write.update)
            .set_condition_expression(write.condition_expression())
            .set_expression_attribute_names(Some(write.names()))
            .set_expression_attribute_values(write.values())
            .return_values(returning)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        match retry_conflicts(|| request.clone().send()).await {
            Ok(output) => Ok(Written::Applied(output.attributes.unwrap_or_default())),
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(refused)) => {
                    Ok(Written::Refused(refused.item.clone()))
                }
                _ => Err(StoreError::Unavailable(DisplayErrorContext(&error).to_string())),
            },
        }
    }

    /// Gives back lapsed holds of a full link, each only if it still holds the exact value read
    /// (a renewed hold is not lapsed any more). Refused: someone else changed them first.
    async fn return_lapsed_holds(&self, pk: &str, lapsed: &[(String, AttributeValue)]) -> Result<(), StoreError> {
        let mut write = Write::new("", "").value(":n", number(lapsed.len()));
        let (mut removed, mut unchanged) = (Vec::new(), Vec::new());
        for (n, (holder, held_until)) in lapsed.iter().enumerate() {
            removed.push(format!("#claims.#h{n}"));
            unchanged.push(format!("#claims.#h{n} = :h{n}"));
            write = write.alias(format!("#h{n}"), holder.clone()).value(format!(":h{n}"), held_until.clone());
        }
        write.update = format!("REMOVE {} SET #reserved = #reserved - :n", removed.join(", "));
        write.condition = unchanged.join(" AND ");
        self.update(pk, &write, ReturnValue::None).await.map(|_| ())
    }
}

/// What a conditional write came to.
enum Written {
    /// Written; the attributes asked for with `ReturnValue` (empty for `None`).
    Applied(Item),
    /// The condition did not hold: the item as it was, or None if there is no such item.
    Refused(Option<Item>),
}
