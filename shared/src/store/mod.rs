//! Persistence: one trait, two implementations (DynamoDB and an embedded file store) that
//! pass the same contract suite.

use async_trait::async_trait;

use crate::model::{CheckoutSession, LinkId, Merchant, PaymentLink, SessionId};

#[cfg(test)]
pub(crate) mod contract;
pub mod dynamo;
pub mod embedded;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write's condition did not hold: the item exists already, or changed under us.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// Throttled, timed out or unreachable: the client should retry (503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Data we cannot read back: a bug, logged and answered 500.
    #[error("corrupt item {key}: {detail}")]
    Corrupt { key: String, detail: String },
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Creates a merchant and the lookup of its key; `Conflict` if the id or key exists.
    async fn create_merchant(&self, merchant: &Merchant) -> Result<(), StoreError>;
    /// The merchant holding the merchant key with this SHA-256 hash.
    async fn find_merchant_by_key(&self, merchant_key_hash: &str) -> Result<Option<Merchant>, StoreError>;

    /// Stores a new link; `Conflict` if the id exists (never overwrites).
    async fn create_link(&self, link: &PaymentLink) -> Result<(), StoreError>;
    /// Strongly consistent read of a link.
    async fn get_link(&self, id: &LinkId) -> Result<Option<PaymentLink>, StoreError>;

    /// Stores a new session; `Conflict` if the id exists.
    async fn create_session(&self, session: &CheckoutSession) -> Result<(), StoreError>;
    /// Strongly consistent read of a session.
    async fn get_session(&self, id: &SessionId) -> Result<Option<CheckoutSession>, StoreError>;
}

/// Partition keys of the single table, one prefix per item kind.
pub(crate) mod keys {
    use crate::model::{LinkId, SessionId};

    pub fn merchant(id: &str) -> String {
        format!("MERCHANT#{id}")
    }
    pub fn merchant_key(hash: &str) -> String {
        format!("KEY#{hash}")
    }
    pub fn link(id: &LinkId) -> String {
        format!("LINK#{id}")
    }
    pub fn session(id: &SessionId) -> String {
        format!("SESSION#{id}")
    }
}

/// How long after expiry a link or session stays readable before TTL may sweep it: merchants
/// look up old links and verify sessions long after the customer left.
pub const RETENTION_AFTER_EXPIRY: chrono::TimeDelta = chrono::TimeDelta::days(90);
