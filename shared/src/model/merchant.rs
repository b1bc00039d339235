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
    /// The merchant's Stripe Connect account (`acct_…`), on a deployment that is a Connect
    /// platform; None charges on the platform's own account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_account: Option<String>,
}

impl Merchant {
    /// What a merchant id may be: 1 to 64 of `A-Z a-z 0-9 _ -`. Ids are parts of store keys
    /// (`IDEMPOTENCY#{merchant}#{key}`, counter names): with no separator in them, two
    /// merchants' keys can never collide.
    pub const ID_RULE: &'static str = "must be 1 to 64 letters, digits, '_' or '-'";

    /// A Stripe account id as Stripe writes them: `acct_` and letters or digits.
    pub fn is_valid_stripe_account(account: &str) -> bool {
        account
            .strip_prefix("acct_")
            .is_some_and(|rest| (1..=64).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
    }

    pub fn is_valid_id(id: &str) -> bool {
        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }
}
