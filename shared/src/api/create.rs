//! `POST /api/payment-links/create`: the seed's create call.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::views::format_timestamp;
use super::{Caller, json, public_base_url, require_json};
use crate::app::App;
use crate::error::ApiError;
use crate::links;
use crate::validate::ValidationErrors;

pub async fn handle(request: &Request, app: &App, caller: &Caller) -> Result<Response<Body>, ApiError> {
    require_json(request)?;
    let idempotency_key = idempotency_key(request)?;
    let link = links::create(
        app.store.as_ref(),
        caller.merchant()?,
        request.body(),
        idempotency_key,
        &app.config.card_entry,
        app.now(),
    )
    .await?;
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
