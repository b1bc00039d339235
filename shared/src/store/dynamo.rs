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

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CancellationReason, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, KeysAndAttributes, Projection, ProjectionType, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, Update,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{
    AttemptEnd, BeginAttempt, ClaimUse, CompletePayment, Counter, IdempotencyRecord, IdempotentCreate, LinkPage,
    RETENTION_AFTER_EXPIRY, Store, StoreError, keys,
};
use crate::checkout::processor::ChargeRecord;
use crate::model::{
    CheckoutSession, LinkId, Merchant, PaymentAttempt, PaymentLink, PaymentResult, SessionId, SessionStatus,
    Unavailable,
};
use crate::money::MinorUnits;

type Item = HashMap<String, AttributeValue>;

pub const GSI1: &str = "gsi1";

/// A link's `expiresAt` as a number (epoch nanoseconds) for conditions; written at creation.
const EXPIRES_AT_NANOS: &str = "expiresAtNanos";

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

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore { client, table: table.into() }
    }

    /// Configured the standard AWS way (region, credentials, `AWS_ENDPOINT_URL_DYNAMODB`),
    /// with the table named by `TABLE_NAME`.
    pub async fn from_env() -> Result<Self, String> {
        let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set".to_owned())?;
        Ok(Self::new(client_from_env().await, table))
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
            .condition_expression(&write.condition)
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

/// One conditional update. Every `#token` in the expressions escapes an attribute name: `#used`
/// stands for `used`, unless `alias` says otherwise (map keys such as session ids). The names
/// sent are exactly those the expressions use, as DynamoDB requires.
struct Write {
    update: String,
    condition: String,
    aliases: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Write {
    fn new(update: impl Into<String>, condition: impl Into<String>) -> Self {
        Write { update: update.into(), condition: condition.into(), aliases: HashMap::new(), values: HashMap::new() }
    }

    fn alias(mut self, token: impl Into<String>, name: impl Into<String>) -> Self {
        self.aliases.insert(token.into(), name.into());
        self
    }

    fn value(mut self, token: impl Into<String>, value: AttributeValue) -> Self {
        self.values.insert(token.into(), value);
        self
    }

    fn names(&self) -> HashMap<String, String> {
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

    /// DynamoDB rejects an empty values map.
    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    /// This write as one item of a transaction, returning the old item if its condition fails.
    fn in_transaction(&self, table: &str, pk: &str) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .update_expression(&self.update)
            .condition_expression(&self.condition)
            .set_expression_attribute_names(Some(self.names()))
            .set_expression_attribute_values(self.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

/// Sends a write again while DynamoDB refuses it with `TransactionConflictException`.
async fn retry_conflicts<T, E, R, Fut>(mut send: impl FnMut() -> Fut) -> Result<T, SdkError<E, R>>
where
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    let mut retry = 0;
    loop {
        match send().await {
            Err(error) if retry < CONFLICT_RETRIES && error.code() == Some("TransactionConflictException") => {
                back_off(retry).await;
                retry += 1;
            }
            result => return result,
        }
    }
}

/// 10, 20, 40, 80 ms plus jitter, so racing writers spread out.
async fn back_off(retry: u32) {
    let millis = (10u64 << retry.min(6)) + rand::random_range(0..10);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

fn contention(operation: &str) -> StoreError {
    StoreError::Unavailable(format!("{operation}: the item kept changing; try again"))
}

/// An SDK client from the standard environment (the same chain the Lambda runtime uses).
pub async fn client_from_env() -> Client {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Client::new(&config)
}

/// Creates the table with its TTL and GSI, or leaves it as it is if it exists.
pub async fn create_table(client: &Client, table: &str) -> Result<(), String> {
    let string_attribute =
        |name: &str| AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build();
    let key =
        |name: &str, key_type: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(key_type).build();
    let gsi = GlobalSecondaryIndex::builder()
        .index_name(GSI1)
        .key_schema(key("gsi1pk", KeyType::Hash).map_err(|e| e.to_string())?)
        .key_schema(key("gsi1sk", KeyType::Range).map_err(|e| e.to_string())?)
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .map_err(|e| e.to_string())?;
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_attribute("pk").map_err(|e| e.to_string())?)
        .attribute_definitions(string_attribute("gsi1pk").map_err(|e| e.to_string())?)
        .attribute_definitions(string_attribute("gsi1sk").map_err(|e| e.to_string())?)
        .key_schema(key("pk", KeyType::Hash).map_err(|e| e.to_string())?)
        .global_secondary_indexes(gsi)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if e.code() == Some("ResourceInUseException") => return Ok(()),
        Err(e) => return Err(DisplayErrorContext(&e).to_string()),
    }
    client
        .wait_until_table_exists()
        .table_name(table)
        .wait(std::time::Duration::from_secs(60))
        .await
        .map_err(|e| DisplayErrorContext(&e).to_string())?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await
        .map_err(|e| DisplayErrorContext(&e).to_string())?;
    Ok(())
}

/// `Conflict` for a failed condition, `Unavailable` (503, retry) for everything else the
/// service can throw at us: throttling, timeouts, network, a missing table.
fn classify<E, R>(error: SdkError<E, R>, conflict: &'static str) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if error.code() == Some("ConditionalCheckFailedException") {
        StoreError::Conflict(conflict)
    } else {
        StoreError::Unavailable(DisplayErrorContext(&error).to_string())
    }
}

/// `classify` for a transaction: `Conflict` when an item's condition failed.
fn classify_transaction<R>(error: SdkError<TransactWriteItemsError, R>, conflict: &'static str) -> StoreError
where
    R: std::fmt::Debug,
{
    if cancellation_reasons(&error).iter().any(|reason| failure(reason) == Some("ConditionalCheckFailed")) {
        StoreError::Conflict(conflict)
    } else {
        StoreError::Unavailable(DisplayErrorContext(&error).to_string())
    }
}

/// Why each item of a cancelled transaction failed, in request order (empty for other errors).
fn cancellation_reasons<R>(error: &SdkError<TransactWriteItemsError, R>) -> &[CancellationReason] {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled.cancellation_reasons(),
        _ => &[],
    }
}

/// The failure code of one item of a cancelled transaction; None if that item was fine.
fn failure(reason: &CancellationReason) -> Option<&str> {
    reason.code().filter(|code| *code != "None")
}

/// A link as stored: the model, its TTL, its place in the merchant's listing (`gsi1`) and
/// its expiry as a number for conditions.
fn link_item(link: &PaymentLink) -> Item {
    let mut item = with_ttl(to_item(keys::link(&link.id), link), link.expires_at);
    item.insert("gsi1pk".to_owned(), AttributeValue::S(keys::merchant(&link.merchant_id)));
    // ULIDs sort by creation time: the index orders a merchant's links by age.
    item.insert("gsi1sk".to_owned(), AttributeValue::S(link.id.to_string()));
    item.insert(EXPIRES_AT_NANOS.to_owned(), epoch_nanos(link.expires_at));
    item
}

fn to_item<T: Serialize>(pk: String, value: &T) -> Item {
    // Model types have string keys and integer numbers only: serialization cannot fail.
    let mut item: Item = serde_dynamo::to_item(value).expect("model types always serialize");
    item.insert("pk".to_owned(), AttributeValue::S(pk));
    item
}

fn from_item<T: DeserializeOwned>(pk: &str, item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt { key: pk.to_owned(), detail: e.to_string() })
}

/// A model value as stored inside an item: times in exactly the text `to_item` writes.
fn attribute<T: Serialize>(pk: &str, value: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value)
        .map_err(|e| StoreError::Corrupt { key: pk.to_owned(), detail: format!("cannot serialize: {e}") })
}

fn number(n: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// An instant as a number that compares exactly: nanoseconds since the epoch.
fn epoch_nanos(instant: DateTime<Utc>) -> AttributeValue {
    number(i128::from(instant.timestamp()) * 1_000_000_000 + i128::from(instant.timestamp_subsec_nanos()))
}

/// The attribute at `path` (names, into nested maps) exactly as stored.
fn stored(pk: &str, item: &Item, path: &[&str]) -> Result<AttributeValue, StoreError> {
    let missing = || StoreError::Corrupt { key: pk.to_owned(), detail: format!("no attribute {}", path.join(".")) };
    let (first, rest) = path.split_first().ok_or_else(missing)?;
    let mut value = item.get(*first).ok_or_else(missing)?;
    for name in rest {
        value = value.as_m().ok().and_then(|map| map.get(*name)).ok_or_else(missing)?;
    }
    Ok(value.clone())
}

fn with_ttl(mut item: Item, expires_at: DateTime<Utc>) -> Item {
    let sweep_at = (expires_at + RETENTION_AFTER_EXPIRY).timestamp();
    item.insert("ttl".to_owned(), AttributeValue::N(sweep_at.to_string()));
    item
}

fn put_new_request(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// How `complete_payment` counts the use on the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counting {
    /// The session's hold becomes the use.
    Hold,
    /// No hold (it lapsed and was given back): take a free use, if any.
    FreeUse,
    /// Unlimited links only count.
    Unlimited,
}

impl Counting {
    fn for_link(link: &PaymentLink, session: &SessionId) -> Counting {
        match link.usage_limit {
            None => Counting::Unlimited,
            Some(_) if link.claims.contains_key(session.as_str()) => Counting::Hold,
            Some(_) => Counting::FreeUse,
        }
    }

    /// The link update, conditioned on the link being as this way of counting assumes.
    fn write(self, session: &SessionId) -> Write {
        match self {
            Counting::Hold => {
                Write::new("REMOVE #claims.#sid SET #used = #used + :one", "attribute_exists(#claims.#sid)")
                    .alias("#sid", session.as_str())
            }
            Counting::FreeUse => Write::new(
                "SET #used = #used + :one, #reserved = #reserved + :one",
                "attribute_not_exists(#claims.#sid) AND #reserved < #usageLimit",
            )
            .alias("#sid", session.as_str()),
            Counting::Unlimited => {
                Write::new("SET #used = #used + :one", "attribute_exists(#pk) AND attribute_type(#usageLimit, :null)")
                    .value(":null", AttributeValue::S("NULL".to_owned()))
            }
        }
        .value(":one", number(1))
    }
}

/// The condition of the session writes of `complete_payment` and `end_attempt`: the session is
/// still pending with attempt `:attempt` in flight.
const ATTEMPT_IN_FLIGHT: &str = "#status = :pending AND #inFlight.#number = :attempt";

fn status(pk: &str, status: SessionStatus) -> Result<AttributeValue, StoreError> {
    attribute(pk, &status)
}

#[async_trait]
impl Store for DynamoStore {
    async fn create_merchant(&self, merchant: &Merchant) -> Result<(), StoreError> {
        // The id and the key lookup are written together or not at all.
        self.client
            .transact_write_items()
            .transact_items(put_new_request(&self.table, to_item(keys::merchant(&merchant.id), merchant))?)
            .transact_items(put_new_request(
                &self.table,
                to_item(keys::merchant_key(&merchant.merchant_key_hash), merchant),
            )?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify_transaction(e, "merchant exists"))
    }

    async fn find_merchant_by_key(&self, merchant_key_hash: &str) -> Result<Option<Merchant>, StoreError> {
        self.get(keys::merchant_key(merchant_key_hash)).await
    }

    async fn create_link(&self, link: &PaymentLink) -> Result<(), StoreError> {
        self.put_new(link_item(link), "link exists").await
    }

    async fn create_link_idempotent(
        &self,
        link: &PaymentLink,
        record: &IdempotencyRecord,
        now: DateTime<Utc>,
    ) -> Result<IdempotentCreate, StoreError> {
        let record_pk = keys::idempotency(&record.merchant_id, &record.key);
        let mut record_item = with_ttl(to_item(record_pk.clone(), record), record.expires_at);
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
        let error = match retry_conflicts(|| request.clone().send()).await {
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

    async fn set_link_active(
        &self,
        id: &LinkId,
        active: bool,
        pause_reason: Option<&str>,
    ) -> Result<Option<PaymentLink>, StoreError> {
        let pk = keys::link(id);
        let write = match pause_reason {
            Some(reason) => Write::new("SET #active = :active, #pauseReason = :reason", "attribute_exists(#pk)")
                .value(":reason", AttributeValue::S(reason.to_owned())),
            None => Write::new("SET #active = :active REMOVE #pauseReason", "attribute_exists(#pk)"),
        }
        .value(":active", AttributeValue::Bool(active));
        match self.update(&pk, &write, ReturnValue::AllNew).await? {
            Written::Applied(item) => from_item(&pk, item).map(Some),
            Written::Refused(_) => Ok(None),
        }
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
        let mut links = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<PaymentLink>("gsi1", item))
            .collect::<Result<Vec<_>, _>>()?;
        let next = if links.len() > limit {
            links.truncate(limit);
            links.last().map(|link| link.id.clone())
        } else {
            None
        };
        Ok(LinkPage { links, next })
    }

    async fn get_link(&self, id: &LinkId) -> Result<Option<PaymentLink>, StoreError> {
        self.get(keys::link(id)).await
    }

    async fn create_session(&self, session: &CheckoutSession) -> Result<(), StoreError> {
        let item = with_ttl(to_item(keys::session(&session.id), session), session.expires_at);
        self.put_new(item, "session exists").await
    }

    async fn get_session(&self, id: &SessionId) -> Result<Option<CheckoutSession>, StoreError> {
        self.get(keys::session(id)).await
    }

    async fn begin_attempt(
        &self,
        session: &SessionId,
        amount: MinorUnits,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<BeginAttempt, StoreError> {
        let pk = keys::session(session);
        let Some(item) = self.get_item(&pk).await? else { return Ok(BeginAttempt::NotFound) };
        self.begin_attempt_from(pk, item, amount, now, lease_until).await
    }

    async fn begin_attempt_on(
        &self,
        session: &CheckoutSession,
        amount: MinorUnits,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<BeginAttempt, StoreError> {
        // The caller's strongly consistent read stands in for ours: the item as stored is
        // exactly `to_item` of the session (times in the same text); if it changed since, the
        // condition refuses the write and the refusal carries the current item.
        let pk = keys::session(&session.id);
        let item = to_item(pk.clone(), session);
        self.begin_attempt_from(pk, item, amount, now, lease_until).await
    }

    async fn claim_use(
        &self,
        link: &LinkId,
        session: &SessionId,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
    ) -> Result<ClaimUse, StoreError> {
        let pk = keys::link(link);
        let hold = |write: Write| -> Result<Write, StoreError> {
            Ok(write
                .alias("#sid", session.as_str())
                .value(":hold", attribute(&pk, &hold_until)?)
                .value(":true", AttributeValue::Bool(true))
                .value(":now", epoch_nanos(now)))
        };
        let claim = hold(
            Write::new(
                "SET #claims.#sid = :hold, #reserved = #reserved + :one",
                "#active = :true AND #expiresAtNanos > :now \
                 AND attribute_not_exists(#claims.#sid) AND #reserved < #usageLimit",
            )
            .value(":one", number(1)),
        )?;
        let renewal = hold(Write::new(
            "SET #claims.#sid = :hold",
            "#active = :true AND #expiresAtNanos > :now AND attribute_exists(#claims.#sid)",
        ))?;

        for _ in 0..DECISION_ROUNDS {
            let item = match self.update(&pk, &claim, ReturnValue::None).await? {
                Written::Applied(_) => return Ok(ClaimUse::Claimed),
                Written::Refused(None) => return Ok(ClaimUse::NotFound),
                Written::Refused(Some(item)) => item,
            };
            // Why was it refused? The link as it was when the condition failed says.
            let link: PaymentLink = from_item(&pk, item.clone())?;
            if !link.active {
                return Ok(ClaimUse::Unavailable(Unavailable::Inactive));
            }
            if now >= link.expires_at {
                return Ok(ClaimUse::Unavailable(Unavailable::Expired));
            }
            let Some(limit) = link.usage_limit else { return Ok(ClaimUse::Claimed) };
            if link.claims.contains_key(session.as_str()) {
                match self.update(&pk, &renewal, ReturnValue::None).await? {
                    Written::Applied(_) => return Ok(ClaimUse::Claimed),
                    Written::Refused(None) => return Ok(ClaimUse::NotFound),
                    // The hold went meanwhile (released, or lapsed and given back): claim afresh.
                    Written::Refused(Some(_)) => continue,
                }
            }
            if link.reserved < limit {
                return Err(StoreError::Corrupt {
                    key: pk,
                    detail: format!("claim refused with a use free: {EXPIRES_AT_NANOS} missing or not expiresAt"),
                });
            }
            // Full: give back the holds whose time has passed, then claim again.
            let mut lapsed = Vec::new();
            for (holder, _) in link.claims.iter().filter(|(_, until)| **until <= now).take(LAPSED_PER_WRITE) {
                lapsed.push((holder.clone(), stored(&pk, &item, &["claims", holder])?));
            }
            if lapsed.is_empty() {
                return Ok(ClaimUse::Unavailable(Unavailable::LimitReached));
            }
            self.return_lapsed_holds(&pk, &lapsed).await?;
        }
        Err(contention("claim_use"))
    }

    async fn release_use(&self, link: &LinkId, session: &SessionId) -> Result<(), StoreError> {
        let write =
            Write::new("REMOVE #claims.#sid SET #reserved = #reserved - :one", "attribute_exists(#claims.#sid)")
                .alias("#sid", session.as_str())
                .value(":one", number(1));
        // Refused: the session holds nothing (any more), which is what was asked.
        self.update(&keys::link(link), &write, ReturnValue::None).await.map(|_| ())
    }

    async fn complete_payment(
        &self,
        session: &SessionId,
        attempt: u32,
        link: &LinkId,
        result: &PaymentResult,
    ) -> Result<CompletePayment, StoreError> {
        let (session_pk, link_pk) = (keys::session(session), keys::link(link));
        let completion =
            Write::new("SET #status = :completed, #payment = :payment REMOVE #inFlight", ATTEMPT_IN_FLIGHT)
                .value(":pending", status(&session_pk, SessionStatus::Pending)?)
                .value(":attempt", number(attempt))
                .value(":completed", status(&session_pk, SessionStatus::Completed)?)
                .value(":payment", attribute(&session_pk, result)?);

        // The link as read decides how the use is counted; the transaction checks it still is so.
        let Some(mut link_item) = self.get_item(&link_pk).await? else {
            return self.complete_without_link(session, attempt, link_pk).await;
        };
        let mut conflicts = 0;
        for _ in 0..DECISION_ROUNDS + CONFLICT_RETRIES as usize {
            let link: PaymentLink = from_item(&link_pk, link_item.clone())?;
            let counting = Counting::for_link(&link, session);
            let sent = self
                .client
                .transact_write_items()
                .transact_items(completion.in_transaction(&self.table, &session_pk)?)
                .transact_items(counting.write(session).in_transaction(&self.table, &link_pk)?)
                .send()
                .await;
            let error = match sent {
                Ok(_) => return Ok(CompletePayment::Completed),
                Err(error) => error,
            };
            let reasons = cancellation_reasons(&error);
            let (session_failure, link_failure) = (reasons.first().and_then(failure), reasons.get(1).and_then(failure));
            if session_failure == Some("ConditionalCheckFailed") {
                return Ok(CompletePayment::SessionChanged);
            }
            if [session_failure, link_failure].contains(&Some("TransactionConflict")) && conflicts < CONFLICT_RETRIES {
                back_off(conflicts).await;
                conflicts += 1;
                continue;
            }
            if session_failure.is_some() || link_failure != Some("ConditionalCheckFailed") {
                return Err(StoreError::Unavailable(DisplayErrorContext(&error).to_string()));
            }
            // The session was still pending with this attempt; the link was not as read.
            let Some(current) = reasons.get(1).and_then(|reason| reason.item()).cloned() else {
                return Err(StoreError::Corrupt { key: link_pk, detail: "session of a missing link".into() });
            };
            let link: PaymentLink = from_item(&link_pk, current.clone())?;
            if Counting::for_link(&link, session) == Counting::FreeUse
                && link.usage_limit.is_some_and(|limit| link.reserved >= limit)
            {
                return Ok(CompletePayment::LimitReached);
            }
            link_item = current;
        }
        Err(contention("complete_payment"))
    }

    async fn end_attempt(&self, session: &SessionId, attempt: u32, end: AttemptEnd) -> Result<(), StoreError> {
        let pk = keys::session(session);
        let write = match end {
            AttemptEnd::Declined => Write::new("REMOVE #inFlight", ATTEMPT_IN_FLIGHT),
            AttemptEnd::Failed { failure_code } => {
                Write::new("SET #status = :failed, #failureCode = :code REMOVE #inFlight", ATTEMPT_IN_FLIGHT)
                    .value(":failed", status(&pk, SessionStatus::Failed)?)
                    .value(":code", AttributeValue::S(failure_code))
            }
        };
        let write = write.value(":pending", status(&pk, SessionStatus::Pending)?).value(":attempt", number(attempt));
        // Refused: the attempt is over already (or never was), and stays as it is.
        self.update(&pk, &write, ReturnValue::None).await.map(|_| ())
    }

    async fn cancel_session(
        &self,
        session: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<CheckoutSession>, StoreError> {
        let pk = keys::session(session);
        let Some(mut item) = self.get_item(&pk).await? else { return Ok(None) };
        for _ in 0..DECISION_ROUNDS {
            let session: CheckoutSession = from_item(&pk, item.clone())?;
            let being_paid = session.in_flight.as_ref().is_some_and(|attempt| attempt.lease_until > now);
            if !session.is_open(now) || being_paid {
                return Ok(Some(session));
            }
            // Cancel only the session as read: unexpired, pending, and not being paid.
            let not_being_paid = match session.in_flight {
                None => "attribute_not_exists(#inFlight)",
                Some(_) => "#inFlight.#number = :number AND #inFlight.#leaseUntil = :lapsedLease",
            };
            let mut write = Write::new(
                "SET #status = :cancelled REMOVE #inFlight",
                format!("#status = :pending AND #expiresAt = :expiresAt AND {not_being_paid}"),
            )
            .value(":pending", status(&pk, SessionStatus::Pending)?)
            .value(":cancelled", status(&pk, SessionStatus::Cancelled)?)
            .value(":expiresAt", stored(&pk, &item, &["expiresAt"])?);
            if let Some(lapsed) = &session.in_flight {
                write = write
                    .value(":number", number(lapsed.number))
                    .value(":lapsedLease", stored(&pk, &item, &["inFlight", "leaseUntil"])?);
            }
            match self.update(&pk, &write, ReturnValue::AllNew).await? {
                Written::Applied(cancelled) => return from_item(&pk, cancelled).map(Some),
                Written::Refused(Some(current)) => item = current,
                Written::Refused(None) => return Ok(None),
            }
        }
        Err(contention("cancel_session"))
    }

    async fn record_charge(&self, record: &ChargeRecord) -> Result<ChargeRecord, StoreError> {
        let pk = keys::charge(&record.idempotency_key);
        // Kept as long as a session is: merchants and support look charges up long after.
        let item = with_ttl(to_item(pk.clone(), record), record.created_at);
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
            .expression_attribute_values(":ttl", number(window_end.timestamp()))
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
    /// `begin_attempt` deciding first from `item`, the session as last read.
    async fn begin_attempt_from(
        &self,
        pk: String,
        mut item: Item,
        amount: MinorUnits,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<BeginAttempt, StoreError> {
        for _ in 0..DECISION_ROUNDS {
            // Decide on the session as read; write only if it is still exactly that session.
            let session: CheckoutSession = from_item(&pk, item.clone())?;
            if !session.is_open(now) {
                return Ok(BeginAttempt::Closed(session));
            }
            let (attempt, write) = match session.in_flight {
                Some(live) if live.lease_until > now => return Ok(BeginAttempt::Busy),
                Some(lapsed) => {
                    // Take over the lapsed attempt: same number and amount, a new lease.
                    let write = Write::new(
                        "SET #inFlight.#leaseUntil = :lease",
                        "#status = :pending AND #expiresAt = :expiresAt \
                         AND #inFlight.#number = :number AND #inFlight.#leaseUntil = :lapsedLease",
                    )
                    .value(":number", number(lapsed.number))
                    .value(":lapsedLease", stored(&pk, &item, &["inFlight", "leaseUntil"])?)
                    .value(":lease", attribute(&pk, &lease_until)?);
                    (PaymentAttempt { lease_until, ..lapsed }, write)
                }
                None => {
                    let Some(next) = session.attempts.checked_add(1) else {
                        return Err(StoreError::Corrupt { key: pk, detail: "attempts overflow".into() });
                    };
                    let attempt = PaymentAttempt { number: next, amount, lease_until };
                    let counted = if session.attempts == 0 {
                        "(#attempts = :attempts OR attribute_not_exists(#attempts))"
                    } else {
                        "#attempts = :attempts"
                    };
                    let write = Write::new(
                        "SET #attempts = :next, #inFlight = :attempt",
                        format!(
                            "#status = :pending AND #expiresAt = :expiresAt AND attribute_not_exists(#inFlight) \
                             AND {counted}"
                        ),
                    )
                    .value(":attempts", number(session.attempts))
                    .value(":next", number(next))
                    .value(":attempt", attribute(&pk, &attempt)?);
                    (attempt, write)
                }
            };
            let write = write
                .value(":pending", status(&pk, SessionStatus::Pending)?)
                .value(":expiresAt", stored(&pk, &item, &["expiresAt"])?);
            match self.update(&pk, &write, ReturnValue::None).await? {
                Written::Applied(_) => return Ok(BeginAttempt::Started(attempt)),
                Written::Refused(Some(current)) => item = current,
                Written::Refused(None) => return Ok(BeginAttempt::NotFound),
            }
        }
        Err(contention("begin_attempt"))
    }

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

impl DynamoStore {
    /// `complete_payment` when the link is gone: like the embedded store, the session decides
    /// first (an attempt that is over is `SessionChanged`); a live one means a broken link.
    async fn complete_without_link(
        &self,
        session: &SessionId,
        attempt: u32,
        link_pk: String,
    ) -> Result<CompletePayment, StoreError> {
        let session = self.get_session(session).await?;
        let in_flight = session.as_ref().is_some_and(|s| {
            s.status == SessionStatus::Pending && s.in_flight.as_ref().is_some_and(|a| a.number == attempt)
        });
        if in_flight {
            Err(StoreError::Corrupt { key: link_pk, detail: "session of a missing link".into() })
        } else {
            Ok(CompletePayment::SessionChanged)
        }
    }
}

/// What the items look like in the table (the contract suite checks only what reads return).
#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::model::{Cart, Checkout};
    use crate::money::MinorUnits;
    use crate::test_support::fresh_dynamo_store;

    fn link(merchant_id: &str) -> PaymentLink {
        PaymentLink {
            id: LinkId::generate(),
            merchant_id: merchant_id.to_owned(),
            checkout: Checkout {
                merchant_name: "Shop".to_owned(),
                currency: "USD".parse().expect("USD"),
                cart: Cart::Amount { amount: MinorUnits(2500) },
                success_url: "https://shop.example/ok".to_owned(),
                cancel_url: "https://shop.example/cancel".to_owned(),
                error_url: "https://shop.example/error".to_owned(),
                metadata: "{}".to_owned(),
                appearance: Default::default(),
            },
            usage_limit: None,
            used: 0,
            reserved: 0,
            claims: Default::default(),
            active: true,
            pause_reason: None,
            created_at: Utc.timestamp_opt(1_767_225_600, 250_000_000).unwrap(),
            expires_at: Utc.timestamp_opt(1_769_904_000, 750_000_000).unwrap(),
        }
    }

    async fn raw(store: &DynamoStore, pk: &str) -> Item {
        let output = store
            .client()
            .get_item()
            .table_name(store.table())
            .key("pk", AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("get item");
        output.item.unwrap_or_else(|| panic!("no item {pk}"))
    }

    fn s<'a>(item: &'a Item, name: &str) -> &'a str {
        item.get(name).and_then(|v| v.as_s().ok()).unwrap_or_else(|| panic!("{name} is not a string: {item:?}"))
    }

    fn n<'a>(item: &'a Item, name: &str) -> &'a str {
        item.get(name).and_then(|v| v.as_n().ok()).unwrap_or_else(|| panic!("{name} is not a number: {item:?}"))
    }

    #[tokio::test]
    async fn items_carry_their_key_ttl_and_index_attributes() {
        let store = fresh_dynamo_store().await;
        let link = link("m_items");
        store.create_link(&link).await.expect("create link");
        let session = CheckoutSession::open(&link, link.created_at);
        store.create_session(&session).await.expect("create session");
        let merchant = Merchant {
            id: "m_items".to_owned(),
            name: "Shop".to_owned(),
            vault_key_hash: "v".repeat(64),
            merchant_key_hash: "k".repeat(64),
            created_at: link.created_at,
        };
        store.create_merchant(&merchant).await.expect("create merchant");

        let item = raw(&store, &format!("LINK#{}", link.id)).await;
        assert_eq!(s(&item, "pk"), format!("LINK#{}", link.id));
        // TTL: whole epoch seconds, as a number, 90 days after expiry.
        assert_eq!(n(&item, "ttl"), (1_769_904_000 + 90 * 86_400).to_string());
        assert_eq!(s(&item, "gsi1pk"), "MERCHANT#m_items");
        assert_eq!(s(&item, "gsi1sk"), link.id.as_str());
        assert_eq!(n(&item, "used"), "0");
        assert!(item["usageLimit"].is_null(), "None is stored as NULL: {item:?}");
        assert_eq!(s(&item, "expiresAt"), "2026-02-01T00:00:00.750Z");
        // The same instant as a number, exact to the nanosecond, for conditions.
        assert_eq!(n(&item, "expiresAtNanos"), "1769904000750000000");
        let cart = item["checkout"].as_m().expect("checkout map")["cart"].as_m().expect("cart map");
        assert_eq!(s(cart, "kind"), "amount");
        assert_eq!(n(cart, "amount"), "2500");

        let item = raw(&store, &format!("SESSION#{}", session.id)).await;
        assert_eq!(n(&item, "ttl"), (session.expires_at + RETENTION_AFTER_EXPIRY).timestamp().to_string());
        assert!(!item.contains_key("gsi1pk"), "sessions stay out of the links index");

        for pk in [format!("MERCHANT#{}", merchant.id), format!("KEY#{}", merchant.merchant_key_hash)] {
            let item = raw(&store, &pk).await;
            assert!(!item.contains_key("ttl"), "merchants never expire: {item:?}");
            assert_eq!(s(&item, "merchantKeyHash"), merchant.merchant_key_hash);
        }

        let ttl = store.client().describe_time_to_live().table_name(store.table()).send().await.expect("ttl");
        let ttl = ttl.time_to_live_description.expect("ttl description");
        assert_eq!(ttl.attribute_name(), Some("ttl"));
    }

    #[tokio::test]
    async fn charge_records_carry_a_ttl_and_are_swept_long_after() {
        let store = fresh_dynamo_store().await;
        let record = ChargeRecord {
            idempotency_key: "cs_01ARZ3NDEKTSV4RRFFQ69G5FAV:1".to_owned(),
            amount: MinorUnits(2500),
            currency: "USD".parse().expect("USD"),
            outcome: crate::checkout::processor::ChargeOutcome::Declined {
                reason: crate::checkout::processor::DeclineReason::Declined,
            },
            voided: false,
            created_at: Utc.timestamp_opt(1_767_225_600, 5).unwrap(),
        };
        store.record_charge(&record).await.expect("record charge");
        store.void_charge(&record.idempotency_key).await.expect("void charge");

        let item = raw(&store, "CHARGE#cs_01ARZ3NDEKTSV4RRFFQ69G5FAV:1").await;
        assert_eq!(n(&item, "ttl"), (1_767_225_600 + 90 * 86_400).to_string());
        assert_eq!(item.get("voided").and_then(|v| v.as_bool().ok()), Some(&true));
    }

    #[tokio::test]
    async fn a_merchants_links_are_listed_newest_first_by_the_index() {
        let store = fresh_dynamo_store().await;
        let mut ids = Vec::new();
        for _ in 0..3 {
            let link = link("m_listed");
            store.create_link(&link).await.expect("create link");
            ids.push(link.id.to_string());
            // ULIDs order by millisecond; within one they are random.
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        store.create_link(&link("m_other")).await.expect("create other link");

        let output = store
            .client()
            .query()
            .table_name(store.table())
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S("MERCHANT#m_listed".to_owned()))
            .scan_index_forward(false)
            .send()
            .await
            .expect("query");
        let listed: Vec<String> = output.items().iter().map(|item| s(item, "id").to_owned()).collect();
        ids.reverse();
        assert_eq!(listed, ids);
    }
}
