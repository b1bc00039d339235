//! The DynamoDB store: one table, `pk` string key, TTL on `ttl`, GSI `gsi1` for listings.
//!
//! Items are the model types serialized attribute-for-attribute (serde_dynamo), plus the key,
//! TTL and index attributes. Every create is a conditional put on `attribute_not_exists(pk)`:
//! nothing is ever overwritten by accident.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, Put, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{RETENTION_AFTER_EXPIRY, Store, StoreError, keys};
use crate::model::{CheckoutSession, LinkId, Merchant, PaymentLink, SessionId};

type Item = HashMap<String, AttributeValue>;

pub const GSI1: &str = "gsi1";

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

    async fn get<T: DeserializeOwned>(&self, pk: String) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify(e, "get"))?;
        output.item.map(|item| from_item(&pk, item)).transpose()
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
    let condition_failed = match error.code() {
        Some("ConditionalCheckFailedException") => true,
        Some("TransactionCanceledException") => error.message().is_some_and(|m| m.contains("ConditionalCheckFailed")),
        _ => false,
    };
    if condition_failed {
        StoreError::Conflict(conflict)
    } else {
        StoreError::Unavailable(DisplayErrorContext(&error).to_string())
    }
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
            .map_err(|e| classify(e, "merchant exists"))
    }

    async fn find_merchant_by_key(&self, merchant_key_hash: &str) -> Result<Option<Merchant>, StoreError> {
        self.get(keys::merchant_key(merchant_key_hash)).await
    }

    async fn create_link(&self, link: &PaymentLink) -> Result<(), StoreError> {
        let mut item = with_ttl(to_item(keys::link(&link.id), link), link.expires_at);
        item.insert("gsi1pk".to_owned(), AttributeValue::S(keys::merchant(&link.merchant_id)));
        // ULIDs sort by creation time, so the id orders a merchant's links newest-last.
        item.insert("gsi1sk".to_owned(), AttributeValue::S(link.id.to_string()));
        self.put_new(item, "link exists").await
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
        _session: &SessionId,
        _amount: crate::money::MinorUnits,
        _now: DateTime<Utc>,
        _lease_until: DateTime<Utc>,
    ) -> Result<super::BeginAttempt, StoreError> {
        Err(StoreError::Unavailable("begin_attempt: not implemented yet".into()))
    }

    async fn claim_use(
        &self,
        _link: &LinkId,
        _session: &SessionId,
        _now: DateTime<Utc>,
        _hold_until: DateTime<Utc>,
    ) -> Result<super::ClaimUse, StoreError> {
        Err(StoreError::Unavailable("claim_use: not implemented yet".into()))
    }

    async fn release_use(&self, _link: &LinkId, _session: &SessionId) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("release_use: not implemented yet".into()))
    }

    async fn complete_payment(
        &self,
        _session: &SessionId,
        _attempt: u32,
        _link: &LinkId,
        _result: &crate::model::PaymentResult,
    ) -> Result<super::CompletePayment, StoreError> {
        Err(StoreError::Unavailable("complete_payment: not implemented yet".into()))
    }

    async fn end_attempt(&self, _session: &SessionId, _attempt: u32, _end: super::AttemptEnd) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("end_attempt: not implemented yet".into()))
    }

    async fn cancel_session(
        &self,
        _session: &SessionId,
        _now: DateTime<Utc>,
    ) -> Result<Option<CheckoutSession>, StoreError> {
        Err(StoreError::Unavailable("cancel_session: not implemented yet".into()))
    }

    async fn record_charge(
        &self,
        _record: &crate::checkout::processor::ChargeRecord,
    ) -> Result<crate::checkout::processor::ChargeRecord, StoreError> {
        Err(StoreError::Unavailable("record_charge: not implemented yet".into()))
    }

    async fn void_charge(&self, _idempotency_key: &str) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("void_charge: not implemented yet".into()))
    }

    async fn get_charge(
        &self,
        _idempotency_key: &str,
    ) -> Result<Option<crate::checkout::processor::ChargeRecord>, StoreError> {
        Err(StoreError::Unavailable("get_charge: not implemented yet".into()))
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
            },
            usage_limit: None,
            used: 0,
            reserved: 0,
            claims: Default::default(),
            active: true,
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
