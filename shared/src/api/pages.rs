//! HTML pages for customers, rendered by askama (compile-time, auto-escaping).

use askama::Template;
use lambda_http::{Body, Response};

use super::html;
use crate::error::{ApiError, unavailable_sentence};
use crate::model::{Cart, CheckoutSession, Unavailable};

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
}

/// A short human page for any error a customer can meet: never JSON, never a stack trace.
pub fn error_page(error: &ApiError) -> Response<Body> {
    let (title, message) = match error {
        ApiError::LinkUnavailable(reason) => (
            unavailable_sentence(*reason),
            match reason {
                Unavailable::LimitReached => {
                    "This payment link has already been used the maximum number of times. Contact the merchant for a new link."
                }
                Unavailable::Expired => "This payment link is no longer valid. Contact the merchant for a new link.",
                Unavailable::Inactive => {
                    "The merchant has switched this payment link off. Contact the merchant for a new link."
                }
            },
        ),
        ApiError::LinkNotFound => {
            ("Payment link not found", "Check that the address is complete, or ask the merchant for the link again.")
        }
        ApiError::SessionNotFound => {
            ("Checkout not found", "This checkout does not exist. Open the payment link again to start over.")
        }
        ApiError::StoreUnavailable => {
            ("Please try again", "We could not load this page just now. Wait a moment and reload.")
        }
        _ => ("Something went wrong", "We could not load this page. Wait a moment and reload."),
    };
    let page = MessagePage { title, message };
    let body = page.render().unwrap_or_else(|_| title.to_owned());
    html(error.status(), body)
}

#[derive(Template)]
#[template(path = "summary.html")]
struct SummaryPage<'a> {
    merchant_name: &'a str,
    amount: Option<String>,
    currency: &'a str,
}

/// Placeholder checkout page: the merchant and the amount, escaped.
pub fn checkout_summary(session: &CheckoutSession) -> Result<String, ApiError> {
    let checkout = &session.checkout;
    let amount = match &checkout.cart {
        Cart::Amount { amount } | Cart::Items { total: amount, .. } => {
            Some(amount.to_decimal_string(checkout.currency))
        }
        Cart::Donation { .. } => None,
    };
    let page = SummaryPage { merchant_name: &checkout.merchant_name, amount, currency: checkout.currency.code() };
    page.render().map_err(|e| ApiError::Internal(format!("render checkout page: {e}")))
}
