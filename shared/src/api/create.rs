//! `POST /api/payment-links/create`: the seed's create call.

use chrono::SecondsFormat;
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::{json, public_base_url};
use crate::app::App;
use crate::auth::authenticate;
use crate::error::ApiError;
use crate::model::{LinkId, PaymentLink};
use crate::validate::validate_create;

pub async fn handle(request: &Request, app: &App) -> Result<Response<Body>, ApiError> {
    let merchant = authenticate(request.headers(), app.store.as_ref()).await?;
    require_json(request)?;
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
        created_at: now,
        expires_at: now + chrono::TimeDelta::days(i64::from(create.expires_in_days)),
    };
    app.store.create_link(&link).await?;
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

fn require_json(request: &Request) -> Result<(), ApiError> {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case("application/json") { Ok(()) } else { Err(ApiError::UnsupportedMediaType) }
}
