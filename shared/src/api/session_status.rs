//! `GET /api/sessions/{sessionId}`: what a merchant's server checks before fulfilling an
//! order (a success redirect alone can be forged).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::checkout_page::find_session;
use super::create::format_timestamp;
use super::json;
use crate::app::App;
use crate::auth::authenticate;
use crate::error::ApiError;

pub async fn handle(request: &Request, app: &App) -> Result<Response<Body>, ApiError> {
    let merchant = authenticate(request, app).await?;
    let session = find_session(request, app).await?;
    // Another merchant's session does not exist, as far as this caller can tell.
    if session.merchant_id != merchant.id {
        return Err(ApiError::SessionNotFound);
    }
    let checkout = &session.checkout;
    let currency = checkout.currency;
    let payment = session.payment.as_ref();
    let amount = payment.map(|p| p.amount).or(checkout.cart.fixed_total());
    let metadata: serde_json::Value = serde_json::from_str(&checkout.metadata).unwrap_or_default();
    let body = json!({
        "success": true,
        "data": {
            "sessionId": session.id,
            "paymentLinkId": session.link_id,
            "status": session.status_at(app.now()),
            "checkoutMode": checkout.cart.checkout_mode(),
            "amount": amount.map(|a| a.to_decimal_string(currency)),
            "currency": currency,
            "transactionId": payment.map(|p| &p.transaction_id),
            "transactionType": payment.map(|_| "sale"),
            "cardBrand": payment.map(|p| &p.card_brand),
            "cardLastFour": payment.map(|p| &p.card_last_four),
            "errorCode": session.failure_code,
            "metadata": metadata,
            "createdAt": format_timestamp(session.created_at),
            "expiresAt": format_timestamp(session.expires_at),
            "completedAt": payment.map(|p| format_timestamp(p.completed_at)),
        }
    });
    Ok(json(StatusCode::OK, &body))
}
