//! Merchant API keys: generated here, stored only as SHA-256 hashes, compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::App;
use crate::error::ApiError;
use crate::limits::count_per_minute;
use crate::model::Merchant;
use crate::store::Store;

pub const VAULT_KEY_HEADER: &str = "x-api-key";
pub const MERCHANT_KEY_HEADER: &str = "x-ozura-api-key";

/// Hex SHA-256 of a key. Keys carry 256 random bits, so an unsalted hash is safe to store.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A fresh random key such as `vk_3f9a…` (32 random bytes).
pub fn generate_key(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{prefix}{}", hex::encode(bytes))
}

/// The two keys a merchant is given once, and the record that stores their hashes.
pub struct NewMerchant {
    pub merchant: Merchant,
    pub vault_key: String,
    pub merchant_key: String,
}

impl NewMerchant {
    pub fn with_keys(
        id: &str,
        name: &str,
        vault_key: String,
        merchant_key: String,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        let merchant = Merchant {
            id: id.to_owned(),
            name: name.to_owned(),
            vault_key_hash: hash_key(&vault_key),
            merchant_key_hash: hash_key(&merchant_key),
            created_at: now,
            stripe_account: None,
        };
        NewMerchant { merchant, vault_key, merchant_key }
    }

    pub fn generate(id: &str, name: &str, now: chrono::DateTime<chrono::Utc>) -> Self {
        Self::with_keys(id, name, generate_key("vk_"), generate_key("mk_"), now)
    }
}

/// The merchant whose two keys are on the request (401 otherwise), within its request rate
/// (429 otherwise: counted per merchant per minute in the store, across all instances).
pub async fn authenticate(request: &lambda_http::Request, app: &App) -> Result<Merchant, ApiError> {
    let merchant = check_keys(request.headers(), app.store.as_ref()).await?;
    let limit = app.config.api_requests_per_minute;
    if limit > 0 {
        count_per_minute(app.store.as_ref(), &format!("api:{}", merchant.id), limit, app.now()).await?;
    }
    Ok(merchant)
}

/// The merchant whose two keys are on the request, or 401.
async fn check_keys(headers: &lambda_http::http::HeaderMap, store: &dyn Store) -> Result<Merchant, ApiError> {
    let header = |name: &'static str, shown: &'static str| {
        headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()).ok_or(ApiError::MissingKey(shown))
    };
    let vault_key = header(VAULT_KEY_HEADER, "X-API-KEY")?;
    let merchant_key = header(MERCHANT_KEY_HEADER, "X-OZURA-API-KEY")?;
    let merchant = store.find_merchant_by_key(&hash_key(merchant_key)).await?.ok_or(ApiError::InvalidKeys)?;
    let vault_matches: bool = hash_key(vault_key).as_bytes().ct_eq(merchant.vault_key_hash.as_bytes()).into();
    if vault_matches { Ok(merchant) } else { Err(ApiError::InvalidKeys) }
}
