//! Where the customer goes after paying: the merchant's URLs with the result added.

use url::Url;

use crate::model::{CheckoutSession, FailureCode, PaymentLink, PaymentResult};
use crate::money::MinorUnits;

/// Merchants may put this in `successUrl`; it becomes the session id.
pub const SESSION_ID_PLACEHOLDER: &str = "{CHECKOUT_SESSION_ID}";

/// The placeholder as a URL stored normalised holds it in a path, where braces are
/// percent-encoded (`https://shop.example/orders/%7BCHECKOUT_SESSION_ID%7D`).
const ENCODED_SESSION_ID_PLACEHOLDER: &str = "%7BCHECKOUT_SESSION_ID%7D";

/// `successUrl` with `success=true` and the payment's details added to its query.
pub fn success_url(session: &CheckoutSession, payment: &PaymentResult) -> String {
    let checkout = &session.checkout;
    let amount = payment.amount.to_decimal_string(checkout.currency);
    let params = [
        ("success", "true"),
        ("sessionId", session.id.as_str()),
        ("paymentLinkId", session.link_id.as_str()),
        ("checkoutMode", checkout.cart.checkout_mode()),
        ("transactionId", &payment.transaction_id),
        ("transactionType", "sale"),
        ("amount", &amount),
        ("currency", checkout.currency.code()),
        ("cardBrand", &payment.card_brand),
        ("cardLastFour", &payment.card_last_four),
        ("metadata", &checkout.metadata),
    ];
    let base = checkout
        .success_url
        .replace(SESSION_ID_PLACEHOLDER, session.id.as_str())
        .replace(ENCODED_SESSION_ID_PLACEHOLDER, session.id.as_str());
    with_query(&base, &params)
}

/// `errorUrl` with `success=false`, the error and the way back (`cancelUrl`).
pub fn error_url(session: &CheckoutSession, code: FailureCode) -> String {
    let params = [
        ("success", "false"),
        ("errorCode", code.as_str()),
        ("error", code.message()),
        ("cancelUrl", session.checkout.cancel_url.as_str()),
    ];
    with_query(&session.checkout.error_url, &params)
}

/// The longest `Location` a customer of `link` can be sent to, with the payment's details and
/// the metadata added: a link whose redirect would exceed [`MAX_REDIRECT_CHARS`] is refused at
/// creation, so a paid customer is never sent a header servers reject. Returns the longest
/// success and error redirects.
pub fn longest_redirects(link: &PaymentLink) -> (usize, usize) {
    let session = CheckoutSession::open(link, link.created_at);
    let currency = link.checkout.currency;
    // Longer than any processor's ids and brands, and the largest amount the currency allows.
    let payment = PaymentResult {
        transaction_id: "x".repeat(64),
        amount: MinorUnits(currency.max_minor()),
        card_brand: "x".repeat(16),
        card_last_four: "0000".to_owned(),
        completed_at: link.created_at,
    };
    let success = success_url(&session, &payment).len();
    let error = [FailureCode::SystemError, FailureCode::SessionFailed]
        .into_iter()
        .map(|code| error_url(&session, code).len())
        .max()
        .unwrap_or(0);
    (success, error)
}

/// The longest redirect a link may lead to: well within what browsers, proxies and servers
/// accept in a `Location` header (8 KiB is a common limit for a whole request line).
pub const MAX_REDIRECT_CHARS: usize = 8000;

/// Appends parameters, keeping the merchant's own query and fragment intact.
fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    // URLs were validated as absolute at creation, so parsing cannot fail here.
    let Ok(mut url) = Url::parse(base) else { return base.to_owned() };
    url.query_pairs_mut().extend_pairs(params);
    url.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cart, Checkout, LinkId, SessionId, SessionStatus};
    use crate::money::MinorUnits;

    fn session(success_url: &str) -> CheckoutSession {
        let now = chrono::Utc::now();
        CheckoutSession {
            id: SessionId::generate(),
            link_id: LinkId::generate(),
            merchant_id: "m".into(),
            checkout: Checkout {
                merchant_name: "Shop".into(),
                currency: "USD".parse().unwrap(),
                cart: Cart::Amount { amount: MinorUnits(5000) },
                success_url: success_url.into(),
                cancel_url: "https://shop.example/cancel?x=1".into(),
                error_url: "https://shop.example/error".into(),
                metadata: r#"{"invoiceId":"INV-1"}"#.into(),
                appearance: Default::default(),
                stripe_account: None,
            },
            status: SessionStatus::Completed,
            created_at: now,
            expires_at: now,
            form_token: String::new(),
            last_decline: None,
            link_has_usage_limit: true,
            attempts: 1,
            in_flight: None,
            payment: None,
            failure_code: None,
        }
    }

    fn payment() -> PaymentResult {
        PaymentResult {
            transaction_id: "txn_1".into(),
            amount: MinorUnits(5000),
            card_brand: "visa".into(),
            card_last_four: "4242".into(),
            completed_at: chrono::Utc::now(),
        }
    }

    fn query(url: &str) -> Vec<(String, String)> {
        Url::parse(url).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }

    #[test]
    fn success_adds_every_result_parameter_and_keeps_the_merchants_query() {
        let s = session("https://shop.example/thanks?order=7#top");
        let url = success_url(&s, &payment());
        assert!(url.starts_with("https://shop.example/thanks?order=7&success=true&"), "{url}");
        assert!(url.ends_with("#top"), "{url}");
        let q = query(&url);
        let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("sessionId"), Some(s.id.as_str()));
        assert_eq!(get("paymentLinkId"), Some(s.link_id.as_str()));
        assert_eq!(get("amount"), Some("50.00"));
        assert_eq!(get("currency"), Some("USD"));
        assert_eq!(get("checkoutMode"), Some("payment"));
        assert_eq!(get("transactionType"), Some("sale"));
        assert_eq!(get("cardLastFour"), Some("4242"));
        assert_eq!(get("metadata"), Some(r#"{"invoiceId":"INV-1"}"#));
    }

    #[test]
    fn the_session_placeholder_is_replaced_in_the_path_and_the_query_of_the_stored_url() {
        // Stored as validation normalises it: braces in the path percent-encoded.
        let typed = "https://shop.example/done/{CHECKOUT_SESSION_ID}/thanks?s={CHECKOUT_SESSION_ID}";
        let stored = crate::validate::normalize_redirect_url(typed).unwrap();
        let s = session(&stored);
        let url = success_url(&s, &payment());
        assert!(url.starts_with(&format!("https://shop.example/done/{0}/thanks?s={0}&", s.id)), "{stored} -> {url}");
    }

    #[test]
    fn error_carries_code_message_and_the_cancel_url() {
        let s = session("https://shop.example/thanks");
        let q = query(&error_url(&s, FailureCode::SystemError));
        assert_eq!(
            q,
            vec![
                ("success".into(), "false".into()),
                ("errorCode".into(), "SYSTEM_ERROR".into()),
                ("error".into(), "The payment could not be processed. You have not been charged.".into()),
                ("cancelUrl".into(), "https://shop.example/cancel?x=1".into()),
            ]
        );
    }
}
