//! What tests sell through their links (the link itself is `PaymentLink::new`).

use crate::checkout::processor::StripeJs;
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

/// Stripe's public settings of a test deployment whose Stripe API is at `api_base`.
pub fn test_stripe_js(api_base: &str) -> StripeJs {
    StripeJs {
        publishable_key: "pk_test_stub".to_owned(),
        js_url: StripeJs::DEFAULT_JS_URL.to_owned(),
        api_base: api_base.to_owned(),
    }
}
