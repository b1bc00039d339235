//! `POST /api/payment-links/create`: the seed's create call.

use chrono::SecondsFormat;
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::{json, public_base_url};
use crate::app::App;
use crate::auth::authenticate;
use crate::error::ApiError;
use crate::model::{IdempotencyRecord, LinkId, PaymentLink};
use crate::store::IdempotentCreate;
use crate::validate::{ValidationErrors, validate_create};
use sha2::{Digest, Sha256};

pub async fn handle(request: &Request, app: &App) -> Result<Response<Body>, ApiError> {
    let merchant = authenticate(request, app).await?;
    require_json(request)?;
    let idempotency_key = idempotency_key(request)?;
    // Validation comes first, so invalid requests never touch (or use up) a key.
    let create = validate_create(request.body())?;
    if create.merchant_id != merchant.id {
        return Err(ApiError::WrongMerchant(create.merchant_id));
    }
    let now = app.now();
    let link = PaymentLink {
        id: LinkId::generate(),
        merchant_id: merchant.id,
        checkout: create.checkout,
        usage_limit: create.usage_limit,
        used: 0,
        reserved: 0,
        claims: Default::default(),
        active: true,
        pause_reason: None,
        created_at: now,
        expires_at: now + chrono::TimeDelta::days(i64::from(create.expires_in_days)),
    };
    let link = match idempotency_key {
        None => {
            app.store.create_link(&link).await?;
            link
        }
        Some(key) => create_once(app, link, key, request.body()).await?,
    };
    let base = public_base_url(request, app);
    let body = json!({
        "success": true,
        "data": {
            "paymentLinkId": link.id,
            "url": format!("{base}/pay/{}", link.id),
            "expiresAt": format_timestamp(link.expires_at),
            "qrCodeUrl": format!("{base}/api/payment-links/{}/qr", link.id),
        }
    });
    Ok(json(StatusCode::CREATED, &body))
}

/// `2025-01-14T00:00:00.000Z`, as the seed writes timestamps.
pub fn format_timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Creates the link unless this merchant already used `key`: then the original link, or 400
/// if the key came with another body. One atomic write decides.
async fn create_once(app: &App, link: PaymentLink, key: String, body: &[u8]) -> Result<PaymentLink, ApiError> {
    let now = app.now();
    let record = IdempotencyRecord {
        merchant_id: link.merchant_id.clone(),
        key,
        request_hash: hex::encode(Sha256::digest(body)),
        link_id: link.id.clone(),
        created_at: now,
        expires_at: now + IdempotencyRecord::LIFETIME,
    };
    match app.store.create_link_idempotent(&link, &record, now).await? {
        IdempotentCreate::Created => Ok(link),
        IdempotentCreate::Replay(original) if original.request_hash == record.request_hash => {
            let missing = || ApiError::Internal(format!("idempotency record names missing link {}", original.link_id));
            app.store.get_link(&original.link_id).await?.ok_or_else(missing)
        }
        IdempotentCreate::Replay(_) => Err(ApiError::IdempotencyKeyReused),
    }
}

/// The optional `Idempotency-Key` header: 1 to 255 visible ASCII characters.
fn idempotency_key(request: &Request) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get("idempotency-key") else { return Ok(None) };
    match value.to_str() {
        Ok(key) if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(key.to_owned()))
        }
        _ => {
            Err(ValidationErrors(vec!["Idempotency-Key: must be 1 to 255 visible ASCII characters".to_owned()]).into())
        }
    }
}

fn require_json(request: &Request) -> Result<(), ApiError> {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case("application/json") { Ok(()) } else { Err(ApiError::UnsupportedMediaType) }
}
