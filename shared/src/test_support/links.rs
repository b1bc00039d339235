//! What tests sell through their links (the link itself is `PaymentLink::new`).

use crate::model::{Cart, Checkout};

/// A plain shop's checkout of `cart`: in USD, returning to shop.example, no metadata and the
/// default look.
pub fn shop_checkout(cart: Cart) -> Checkout {
    Checkout {
        merchant_name: "Shop".to_owned(),
        currency: "USD".parse().expect("USD"),
        cart,
        success_url: "https://shop.example/ok".to_owned(),
        cancel_url: "https://shop.example/cancel".to_owned(),
        error_url: "https://shop.example/error".to_owned(),
        metadata: "{}".to_owned(),
        appearance: Default::default(),
        stripe_account: None,
    }
}
