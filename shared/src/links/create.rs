//! Creating a link: the seed's create call, at most once per `Idempotency-Key`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::checkout::processor::CardEntry;
use crate::checkout::redirect::{MAX_REDIRECT_CHARS, longest_redirects};
use crate::checkout::stripe_amounts::uncharged_amounts;
use crate::error::ApiError;
use crate::model::{Checkout, IdempotencyRecord, Merchant, PaymentLink};
use crate::store::{Idempotency, IdempotentCreate, Links};
use crate::validate::{ValidationErrors, validate_create};

/// Validates `body` (every bad field at once) and stores the link it describes for `merchant`.
/// With an idempotency key, a repeat of the same request returns the original link and one with
/// another body is refused; one atomic write decides. Invalid requests never use up a key. On a
/// deployment that charges through Stripe (`card_entry`), an amount Stripe cannot charge exactly
/// is refused here, not when a customer pays.
pub async fn create<S: Links + Idempotency + ?Sized>(
    store: &S,
    merchant: &Merchant,
    body: &[u8],
    idempotency_key: Option<String>,
    card_entry: &CardEntry,
    now: DateTime<Utc>,
) -> Result<PaymentLink, ApiError> {
    let create = validate_create(body)?;
    if create.merchant_id != merchant.id {
        return Err(ApiError::WrongMerchant(create.merchant_id));
    }
    let checkout = Checkout { stripe_account: merchant.stripe_account.clone(), ..create.checkout };
    let link = PaymentLink::new(&merchant.id, checkout, create.usage_limit, create.expires_in_days, now);
    check_redirect_lengths(&link)?;
    if matches!(card_entry, CardEntry::StripeJs(_)) {
        let refused = uncharged_amounts(&link.checkout);
        if !refused.is_empty() {
            return Err(ValidationErrors(refused).into());
        }
    }
    let Some(key) = idempotency_key else {
        store.create_link(&link).await?;
        return Ok(link);
    };
    let record = IdempotencyRecord {
        merchant_id: link.merchant_id.clone(),
        key,
        request_hash: creation_hash(body),
        link_id: link.id.clone(),
        created_at: now,
        expires_at: now + IdempotencyRecord::LIFETIME,
    };
    match store.create_link_idempotent(&link, &record, now).await? {
        IdempotentCreate::Created => Ok(link),
        IdempotentCreate::Replay(original) if original.request_hash == record.request_hash => {
            let missing = || ApiError::Internal(format!("idempotency record names missing link {}", original.link_id));
            store.get_link(&original.link_id).await?.ok_or_else(missing)
        }
        IdempotentCreate::Replay(_) => Err(ApiError::IdempotencyKeyReused),
    }
}

/// Refuses a link whose success or error redirect, with the payment's details and the
/// metadata added, would be longer than servers accept.
fn check_redirect_lengths(link: &PaymentLink) -> Result<(), ValidationErrors> {
    let (success, error) = longest_redirects(link);
    let mut errors = Vec::new();
    for (field, length) in [("successUrl", success), ("errorUrl", error)] {
        if length > MAX_REDIRECT_CHARS {
            errors.push(format!(
                "{field}: with the payment's details and the metadata added, the redirect could be {length} \
                 characters; shorten the URL or the metadata to keep it within {MAX_REDIRECT_CHARS}"
            ));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(ValidationErrors(errors)) }
}

/// What identifies a create request for its idempotency key: SHA-256 (hex) of its JSON with
/// every object's keys in order, so the same request with its keys in another order or other
/// whitespace is the same request. (Only bodies the validator accepted get here.)
fn creation_hash(body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<Value>(body).map(|value| keys_in_order(value).to_string());
    hex::encode(Sha256::digest(canonical.as_deref().map_or(body, str::as_bytes)))
}

fn keys_in_order(value: Value) -> Value {
    match value {
        Value::Object(object) => {
            let mut fields: Vec<(String, Value)> = object.into_iter().collect();
            fields.sort_by(|(a, _), (b, _)| a.cmp(b));
            Value::Object(fields.into_iter().map(|(key, value)| (key, keys_in_order(value))).collect())
        }
        Value::Array(values) => Value::Array(values.into_iter().map(keys_in_order).collect()),
        other => other,
    }
}
