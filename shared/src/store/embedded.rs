//! The embedded store for `paylinks serve`: one redb file, the same semantics as DynamoDB.
//!
//! Items are JSON under the same partition keys as the DynamoDB table. redb runs one write
//! transaction at a time, so every check-then-write below is atomic, exactly as a DynamoDB
//! conditional write is.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Store, StoreError, keys};
use crate::model::{CheckoutSession, LinkId, Merchant, PaymentLink, SessionId};

const ITEMS: TableDefinition<&str, &[u8]> = TableDefinition::new("items");

#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
}

impl EmbeddedStore {
    /// Opens (or creates) the store file; its data survives restarts.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| unavailable(&e))?;
        }
        let db = Database::create(path).map_err(|e| unavailable(&e))?;
        // Create the table up front so readers never meet a missing table.
        let txn = db.begin_write().map_err(|e| unavailable(&e))?;
        txn.open_table(ITEMS).map_err(|e| unavailable(&e))?;
        txn.commit().map_err(|e| unavailable(&e))?;
        Ok(EmbeddedStore { db: Arc::new(db) })
    }

    /// Runs blocking database work off the async executor.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(|e| StoreError::Unavailable(format!("embedded store task failed: {e}")))?
    }

    async fn read<T: DeserializeOwned + Send + 'static>(&self, key: String) -> Result<Option<T>, StoreError> {
        self.blocking(move |db| {
            let txn = db.begin_read().map_err(|e| unavailable(&e))?;
            let table = txn.open_table(ITEMS).map_err(|e| unavailable(&e))?;
            let Some(bytes) = table.get(key.as_str()).map_err(|e| unavailable(&e))? else {
                return Ok(None);
            };
            decode(&key, bytes.value()).map(Some)
        })
        .await
    }

    /// Writes all items in one transaction, only if none of the keys exists yet.
    async fn insert_new(&self, items: Vec<(String, Vec<u8>)>, conflict: &'static str) -> Result<(), StoreError> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(|e| unavailable(&e))?;
            {
                let mut table = txn.open_table(ITEMS).map_err(|e| unavailable(&e))?;
                for (key, _) in &items {
                    if table.get(key.as_str()).map_err(|e| unavailable(&e))?.is_some() {
                        return Err(StoreError::Conflict(conflict));
                    }
                }
                for (key, value) in &items {
                    table.insert(key.as_str(), value.as_slice()).map_err(|e| unavailable(&e))?;
                }
            }
            txn.commit().map_err(|e| unavailable(&e))
        })
        .await
    }
}

fn unavailable(error: &dyn std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("embedded store: {error}"))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Our model types serialize to JSON infallibly (string keys, no non-finite floats).
    serde_json::to_vec(value).expect("model types always serialize")
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt { key: key.to_owned(), detail: e.to_string() })
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn create_merchant(&self, merchant: &Merchant) -> Result<(), StoreError> {
        let record = encode(merchant);
        let items = vec![
            (keys::merchant(&merchant.id), record.clone()),
            (keys::merchant_key(&merchant.merchant_key_hash), record),
        ];
        self.insert_new(items, "merchant exists").await
    }

    async fn find_merchant_by_key(&self, merchant_key_hash: &str) -> Result<Option<Merchant>, StoreError> {
        self.read(keys::merchant_key(merchant_key_hash)).await
    }

    async fn create_link(&self, link: &PaymentLink) -> Result<(), StoreError> {
        self.insert_new(vec![(keys::link(&link.id), encode(link))], "link exists").await
    }

    async fn get_link(&self, id: &LinkId) -> Result<Option<PaymentLink>, StoreError> {
        self.read(keys::link(id)).await
    }

    async fn create_session(&self, session: &CheckoutSession) -> Result<(), StoreError> {
        self.insert_new(vec![(keys::session(&session.id), encode(session))], "session exists").await
    }

    async fn get_session(&self, id: &SessionId) -> Result<Option<CheckoutSession>, StoreError> {
        self.read(keys::session(id)).await
    }
}
