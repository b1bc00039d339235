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
