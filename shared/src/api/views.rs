//! Links and sessions as the merchant API shows them: amounts as decimal strings, status and
//! usage derived at read time, timestamps as the seed writes them.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::model::{Cart, CheckoutSession, PaymentLink};

/// `2025-01-14T00:00:00.000Z`, as the seed writes timestamps.
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn link_view(link: &PaymentLink, now: DateTime<Utc>, base_url: &str) -> Value {
    let checkout = &link.checkout;
    let currency = checkout.currency;
    let money = |m: crate::money::MinorUnits| m.to_decimal_string(currency);
    let items = match &checkout.cart {
        Cart::Items { items, .. } => Some(
            items
                .iter()
                .map(|item| {
                    json!({
                        "productId": item.product_id,
                        "name": item.name,
                        "price": money(item.price),
                        "quantity": item.quantity,
                        "imageUrl": item.image_url,
                        "originalPrice": item.original_price.map(money),
                        "discountLabel": item.discount_label,
                    })
                })
                .collect::<Vec<_>>(),
        ),
        _ => None,
    };
    let donation_config = match &checkout.cart {
        Cart::Donation { donation } => Some(json!({
            "presets": donation.presets.iter().copied().map(money).collect::<Vec<_>>(),
            "defaultAmount": donation.default_amount.map(money),
            "allowCustomAmount": donation.allow_custom_amount,
            "minAmount": donation.min_amount.map(money),
            "maxAmount": donation.max_amount.map(money),
        })),
        _ => None,
    };
    let metadata: Value = serde_json::from_str(&checkout.metadata).unwrap_or_else(|_| json!({}));
    json!({
        "paymentLinkId": link.id,
        "url": format!("{base_url}/pay/{}", link.id),
        "qrCodeUrl": format!("{base_url}/api/payment-links/{}/qr", link.id),
        "merchantId": link.merchant_id,
        "merchantName": checkout.merchant_name,
        "status": link.status(now).as_str(),
        "active": link.active,
        "pausedReason": link.pause_reason,
        "paymentsBlockedUntil": link.blocked_until.filter(|until| *until > now).map(format_timestamp),
        "checkoutMode": checkout.cart.checkout_mode(),
        "amount": checkout.cart.fixed_total().map(money),
        "currency": currency,
        "items": items,
        "donationConfig": donation_config,
        "successUrl": checkout.success_url,
        "cancelUrl": checkout.cancel_url,
        "errorUrl": checkout.error_url,
        "metadata": metadata,
        "appearance": checkout.appearance,
        "usageLimit": link.usage_limit,
        "usage": {
            "used": link.used,
            "limit": link.usage_limit,
            "remaining": link.usage_limit.map(|limit| limit.saturating_sub(link.used)),
        },
        "createdAt": format_timestamp(link.created_at),
        "expiresAt": format_timestamp(link.expires_at),
    })
}

/// A session as `GET /api/sessions/{id}` shows it: what a merchant's server checks before
/// fulfilling an order.
pub fn session_view(session: &CheckoutSession, now: DateTime<Utc>) -> Value {
    let checkout = &session.checkout;
    let currency = checkout.currency;
    let payment = session.payment.as_ref();
    let amount = payment.map(|p| p.amount).or(checkout.cart.fixed_total());
    let metadata: serde_json::Value = serde_json::from_str(&checkout.metadata).unwrap_or_default();
    json!({
        "sessionId": session.id,
        "paymentLinkId": session.link_id,
        "status": session.status_at(now),
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
    })
}
