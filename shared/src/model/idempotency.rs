//! Which link an `Idempotency-Key` created.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::LinkId;

/// Remembers which link an `Idempotency-Key` created, for 24 hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyRecord {
    pub merchant_id: String,
    pub key: String,
    /// SHA-256 (hex) of the request body: the same key with another body is refused.
    pub request_hash: String,
    pub link_id: LinkId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl IdempotencyRecord {
    pub const LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(24);
}
