//! The seed's three create examples (the public API we honour), for any merchant.

use serde_json::{Value, json};

/// The seed's invoice example: a fixed amount, one use.
pub fn seed_fixed_amount(merchant_id: &str) -> Value {
    json!({
        "merchantId": merchant_id,
        "merchantName": "My Store",
        "amount": "50.00",
        "currency": "USD",
        "successUrl": "https://mystore.com/thank-you",
        "cancelUrl": "https://mystore.com/cancelled",
        "errorUrl": "https://mystore.com/error",
        "expiresInDays": 7,
        "usageLimit": 1,
        "metadata": { "invoiceId": "INV-12345" }
    })
}

/// The seed's itemised cart example.
pub fn seed_itemised(merchant_id: &str) -> Value {
    json!({
        "merchantId": merchant_id,
        "merchantName": "Fashion Boutique",
        "items": [{
            "productId": "JACKET-001",
            "name": "Winter Jacket",
            "price": 149.99,
            "quantity": 1,
            "imageUrl": "https://cdn.example.com/jacket.jpg",
            "originalPrice": 199.99,
            "discountLabel": "25% OFF"
        }],
        "currency": "USD",
        "successUrl": "https://fashionboutique.com/thank-you",
        "cancelUrl": "https://fashionboutique.com/cart",
        "errorUrl": "https://fashionboutique.com/error"
    })
}

/// The seed's donation example: presets, custom amounts, unlimited, a year.
pub fn seed_donation(merchant_id: &str) -> Value {
    json!({
        "merchantId": merchant_id,
        "merchantName": "Save The Whales Foundation",
        "successUrl": "https://savethewhales.org/thank-you",
        "cancelUrl": "https://savethewhales.org/donate",
        "errorUrl": "https://savethewhales.org/error",
        "checkoutMode": "donation",
        "donationConfig": { "presets": [25, 50, 100, 250], "defaultAmount": 50, "allowCustomAmount": true },
        "expiresInDays": 365,
        "usageLimit": null
    })
}

/// The three seed examples with the number of days each stays valid.
pub fn seed_examples(merchant_id: &str) -> [(Value, i64); 3] {
    [(seed_fixed_amount(merchant_id), 7), (seed_itemised(merchant_id), 7), (seed_donation(merchant_id), 365)]
}
