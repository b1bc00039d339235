//! Merchants: the account and the lookup of its key, written together.

use async_trait::async_trait;

use super::DynamoStore;
use super::codec::to_item;
use super::errors::{classify_transaction, send_transaction};
use super::write::put_new_request;
use crate::model::Merchant;
use crate::store::{Merchants, StoreError, keys};

#[async_trait]
impl Merchants for DynamoStore {
    async fn create_merchant(&self, merchant: &Merchant) -> Result<(), StoreError> {
        // The id and the key lookup are written together or not at all.
        let request = self
            .client
            .transact_write_items()
            .transact_items(put_new_request(&self.table, to_item(keys::merchant(&merchant.id), merchant))?)
            .transact_items(put_new_request(
                &self.table,
                to_item(keys::merchant_key(&merchant.merchant_key_hash), merchant),
            )?);
        send_transaction(&request).await.map(|_| ()).map_err(|e| classify_transaction(e, "merchant exists"))
    }

    async fn find_merchant_by_key(&self, merchant_key_hash: &str) -> Result<Option<Merchant>, StoreError> {
        self.get(keys::merchant_key(merchant_key_hash)).await
    }
}
