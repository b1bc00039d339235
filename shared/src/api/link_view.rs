//! A payment link as the merchant API shows it: amounts as decimal strings, status and usage
//! derived at read time.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::create::format_timestamp;
use crate::model::{Cart, PaymentLink, Unavailable};

/// `active`, `inactive`, `expired` or `limit_reached`, as of `now`.
pub fn status(link: &PaymentLink, now: DateTime<Utc>) -> &'static str {
    match link.availability(now) {
        Ok(()) => "active",
        Err(Unavailable::Inactive) => "inactive",
        Err(Unavailable::Expired) => "expired",
        Err(Unavailable::LimitReached) => "limit_reached",
    }
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
        "status": status(link, now),
        "active": link.active,
        "pausedReason": link.pause_reason,
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
