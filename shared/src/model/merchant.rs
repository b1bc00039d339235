//! A merchant account.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A merchant account. Keys are never stored, only their SHA-256 hashes (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Merchant {
    pub id: String,
    pub name: String,
    pub vault_key_hash: String,
    pub merchant_key_hash: String,
    pub created_at: DateTime<Utc>,
}

impl Merchant {
    /// What a merchant id may be: 1 to 64 of `A-Z a-z 0-9 _ -`. Ids are parts of store keys
    /// (`IDEMPOTENCY#{merchant}#{key}`, counter names): with no separator in them, two
    /// merchants' keys can never collide.
    pub const ID_RULE: &'static str = "must be 1 to 64 letters, digits, '_' or '-'";

    pub fn is_valid_id(id: &str) -> bool {
        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }
}
