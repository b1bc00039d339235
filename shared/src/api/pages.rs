//! HTML pages for customers, rendered by askama (compile-time, auto-escaping: everything a
//! merchant supplied is escaped).

use askama::Template;
use base64::Engine as _;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use sha2::{Digest, Sha256};

use super::html;
use crate::checkout::processor::CardEntry;
use crate::error::ApiError;
use crate::model::{Appearance, Cart, CheckoutSession, DeclineReason, Item, SessionStatus};
use crate::money::MinorUnits;

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    /// What the page's own links (stylesheet, forms) start with: "" or "/<stage>".
    base_path: &'a str,
    title: &'a str,
    message: &'a str,
    /// An optional button: (label, href).
    action: Option<(&'a str, &'a str)>,
    /// The merchant's look, on pages of one merchant's checkout (see `CheckoutPage`).
    appearance_css: Option<String>,
    logo_url: Option<&'a str>,
}

/// A page with a title, a sentence and perhaps a button; in the merchant's `appearance` when
/// it belongs to one merchant's checkout.
fn message_page(
    base_path: &str,
    status: StatusCode,
    title: &str,
    message: &str,
    action: Option<(&str, &str)>,
    appearance: Option<&Appearance>,
) -> Response<Body> {
    let appearance_css = appearance.and_then(appearance_css);
    let logo_url = appearance.and_then(|look| look.logo_url.as_deref());
    let page = MessagePage { base_path, title, message, action, appearance_css, logo_url };
    let mut response = html(status, page.render().unwrap_or_else(|_| title.to_owned()));
    if page.appearance_css.is_some() || page.logo_url.is_some() {
        set_csp(&mut response, &branded_csp(page.appearance_css.as_deref()));
    }
    response
}

/// A short human page for any error a customer can meet: never JSON, never a stack trace.
/// Its status is the error's.
pub fn error_page(error: &ApiError, base_path: &str) -> Response<Body> {
    let (error, appearance) = error.unbranded();
    let (title, message): (&str, String) = match error {
        ApiError::LinkUnavailable(reason) => (reason.sentence(), reason.advice().to_owned()),
        ApiError::LinkStoppedTakingPayments { reason, .. } => {
            (reason.sentence(), format!("{} You have not been charged.", reason.advice()))
        }
        ApiError::SessionClosed { status: SessionStatus::Expired, .. } => (
            "This checkout has expired",
            "You have not been charged. Open the payment link again to start a new checkout.".to_owned(),
        ),
        ApiError::SessionClosed { status: SessionStatus::Cancelled, .. } => {
            ("Checkout cancelled", "You have not been charged.".to_owned())
        }
        ApiError::SessionClosed { .. } => (
            "This checkout could not be completed",
            "You have not been charged. Open the payment link again to start over.".to_owned(),
        ),
        ApiError::PaymentInProgress => (
            "Payment in progress",
            "Your payment is being processed. Reload this page in a moment to see the result; do not pay again."
                .to_owned(),
        ),
        ApiError::TooManyAttempts(retry_after_seconds) => {
            let minutes = retry_after_seconds.div_ceil(60);
            let plural = if minutes == 1 { "" } else { "s" };
            let message = format!(
                "There have been too many payment attempts that were declined or are still being processed. For your security, try again in {minutes} minute{plural}."
            );
            ("Too many attempts", message)
        }
        ApiError::RateLimited(_) => (
            "Too many requests",
            "Too many checkouts were opened from your connection in the last minute. Wait a minute and try again."
                .to_owned(),
        ),
        ApiError::LinkNotFound => (
            "Payment link not found",
            "Check that the address is complete, or ask the merchant for the link again.".to_owned(),
        ),
        ApiError::SessionNotFound => (
            "Checkout not found",
            "This checkout does not exist. Open the payment link again to start over.".to_owned(),
        ),
        ApiError::StaleForm => {
            ("Please reload the page", "This checkout form is out of date. Reload the page and try again.".to_owned())
        }
        ApiError::StoreUnavailable => {
            ("Please try again", "We could not complete this just now. Wait a moment and try again.".to_owned())
        }
        ApiError::ProcessorUnavailable => (
            "We could not confirm your payment",
            "The card processor did not answer in time. Wait a minute, then pay again: \
             if this payment went through, you will not be charged a second time."
                .to_owned(),
        ),
        _ => ("Something went wrong", "We could not load this page. Wait a moment and reload.".to_owned()),
    };
    let action = match error {
        ApiError::LinkStoppedTakingPayments { back_url, .. } | ApiError::SessionClosed { back_url, .. } => {
            Some(("Back to the merchant", back_url.as_str()))
        }
        _ => None,
    };
    message_page(base_path, error.status(), title, &message, action, appearance)
}

/// A session that can no longer be paid: "already paid" when it is, otherwise the error that
/// says why (expired, cancelled, failed).
pub fn closed_session(
    base_path: &str,
    session: &CheckoutSession,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Response<Body>, ApiError> {
    match session.status_at(now) {
        SessionStatus::Completed => Ok(paid_page(base_path, session)),
        SessionStatus::Refunded => Ok(message_page(
            base_path,
            StatusCode::OK,
            "Payment refunded",
            "This checkout was paid and the payment has been refunded to your card. There is nothing more to pay.",
            None,
            Some(&session.checkout.appearance),
        )),
        status => Err(ApiError::SessionClosed { status, back_url: session.checkout.cancel_url.clone() }
            .branded(&session.checkout.appearance)),
    }
}

/// What a paid session shows when opened again.
fn paid_page(base_path: &str, session: &CheckoutSession) -> Response<Body> {
    let amount = session.payment.as_ref().map(|p| p.amount.display(session.checkout.currency));
    let message = match amount {
        Some(amount) => format!("This checkout has already been paid ({amount}). There is nothing more to pay."),
        None => "This checkout has already been paid. There is nothing more to pay.".to_owned(),
    };
    message_page(base_path, StatusCode::OK, "Already paid", &message, None, Some(&session.checkout.appearance))
}

struct ItemView {
    name: String,
    quantity: u32,
    image_url: Option<String>,
    line_total: String,
    unit_price: String,
    original_price: Option<String>,
    discount_label: Option<String>,
}

struct PresetView {
    value: String,
    label: String,
    checked: bool,
}

struct DonationView {
    presets: Vec<PresetView>,
    allow_custom: bool,
    custom_value: String,
    hint: Option<String>,
}

#[derive(Template)]
#[template(path = "checkout.html")]
struct CheckoutPage<'a> {
    base_path: &'a str,
    merchant_name: &'a str,
    pay_action: String,
    cancel_href: String,
    form_token: &'a str,
    total: Option<String>,
    items: Vec<ItemView>,
    donation: Option<DonationView>,
    pay_label: String,
    error: Option<&'a str>,
    cardholder_name: &'a str,
    /// The text of the page's one inline `<style>` element, allowed by its hash in the CSP.
    appearance_css: Option<String>,
    logo_url: Option<&'a str>,
    /// Stripe mode: Stripe.js's card field instead of ours.
    stripe: Option<StripeView<'a>>,
}

struct StripeView<'a> {
    publishable_key: &'a str,
    js_url: &'a str,
    test_mode: bool,
    /// The merchant's Connect account: Stripe.js must make the card's token (and run 3-D
    /// Secure) on the account the payment is made on, or Stripe knows neither there.
    stripe_account: Option<&'a str>,
    /// Set when the bank asks for 3-D Secure: the page runs it at once.
    client_secret: Option<&'a str>,
}

/// What a render of the checkout form carries over from the post before.
#[derive(Default)]
pub struct FormState<'a> {
    /// A problem the customer can fix, shown inline (the form as posted, answered 422).
    pub error: Option<&'a str>,
    /// The processor declined the last try: shown like an error, on a page loaded by GET after
    /// the redirect that answered the pay (200).
    pub declined: Option<DeclineReason>,
    /// A donor's previous choice of amount.
    pub chosen: Option<&'a str>,
    pub cardholder_name: &'a str,
    /// Stripe mode: the PaymentIntent waiting for 3-D Secure.
    pub client_secret: Option<&'a str>,
}

/// The checkout form for an open session (200), or again with an inline error the customer
/// can fix (422); with Stripe, Stripe.js's card field (and 3-D Secure when `state` asks).
/// `items` are the cart's lines, which the session does not keep (`Checkout::for_session`).
pub fn checkout_page(
    base_path: &str,
    session: &CheckoutSession,
    items: &[Item],
    card_entry: &CardEntry,
    state: FormState<'_>,
) -> Result<Response<Body>, ApiError> {
    let FormState { error, declined, chosen, cardholder_name, client_secret } = state;
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let error = error.or(declined.map(DeclineReason::message));
    let checkout = &session.checkout;
    let currency = checkout.currency;
    let show = |amount: MinorUnits| amount.display(currency);
    let items = items
        .iter()
        .map(|item| ItemView {
            name: item.name.clone(),
            quantity: item.quantity,
            image_url: item.image_url.clone(),
            line_total: item.line_total().map(show).unwrap_or_default(),
            unit_price: show(item.price),
            original_price: item.original_price.map(|p| show(p.checked_mul(i64::from(item.quantity)).unwrap_or(p))),
            discount_label: item.discount_label.clone(),
        })
        .collect();
    let donation = match &checkout.cart {
        Cart::Donation { donation } => {
            // A default that is not a preset (custom amounts allowed) is offered beside them.
            let mut offered = donation.presets.clone();
            if let Some(default) = donation.default_amount.filter(|default| !offered.contains(default)) {
                offered.push(default);
                offered.sort();
            }
            let chosen_preset = chosen.and_then(|c| offered.iter().find(|p| p.to_decimal_string(currency) == c));
            let custom_value = match (chosen, chosen_preset) {
                (Some(text), None) => text.to_owned(),
                _ => String::new(),
            };
            let default =
                chosen_preset.copied().or(if custom_value.is_empty() { donation.default_amount } else { None });
            let min = crate::checkout::pay::smallest_custom_donation(donation, currency, card_entry);
            let hint = Some(match donation.max_amount {
                Some(max) => format!("Between {} and {}", show(min), show(max)),
                None => format!("At least {}", show(min)),
            });
            Some(DonationView {
                presets: offered
                    .iter()
                    .map(|p| PresetView {
                        value: p.to_decimal_string(currency),
                        label: show(*p),
                        checked: Some(*p) == default,
                    })
                    .collect(),
                allow_custom: donation.allow_custom_amount,
                custom_value,
                hint,
            })
        }
        _ => None,
    };
    let total = checkout.cart.fixed_total().map(show);
    let pay_label = match &total {
        Some(total) => format!("Pay {total}"),
        None => "Donate".to_owned(),
    };
    let page = CheckoutPage {
        base_path,
        merchant_name: &checkout.merchant_name,
        pay_action: format!("{base_path}/checkout/{}/pay", session.id),
        cancel_href: format!("{base_path}/checkout/{}/cancel", session.id),
        form_token: &session.form_token,
        total,
        items,
        donation,
        pay_label,
        error,
        cardholder_name,
        appearance_css: appearance_css(&checkout.appearance),
        logo_url: checkout.appearance.logo_url.as_deref(),
        stripe: match card_entry {
            CardEntry::Form => None,
            CardEntry::StripeJs(stripe) => Some(StripeView {
                publishable_key: &stripe.publishable_key,
                js_url: &stripe.js_url,
                test_mode: stripe.is_test_mode(),
                stripe_account: checkout.stripe_account.as_deref(),
                client_secret,
            }),
        },
    };
    let body = page.render().map_err(|e| ApiError::Internal(format!("render checkout page: {e}")))?;
    let csp = checkout_csp(session, page.appearance_css.as_deref(), card_entry);
    let mut response = html(status, body);
    set_csp(&mut response, &csp);
    Ok(response)
}

/// The merchant's appearance as CSS custom properties for the stylesheet to use, or None when
/// there is nothing to change. Built only from typed values (`#rrggbb` colours and an integer),
/// so it contains no character HTML escaping would alter and no CSS the merchant wrote.
fn appearance_css(appearance: &Appearance) -> Option<String> {
    let mut properties = Vec::new();
    if let Some(color) = appearance.primary_color {
        properties.push(format!("--primary:{color}"));
        properties.push(format!("--primary-text:{}", color.readable_text()));
    }
    if let Some(color) = appearance.button_background_color {
        properties.push(format!("--button-bg:{color}"));
        properties.push(format!("--button-text:{}", color.readable_text()));
    }
    if let Some(color) = appearance.background_color {
        properties.push(format!("--bg:{color}"));
    }
    if let Some(color) = appearance.text_color {
        properties.push(format!("--text:{color}"));
    }
    if let Some(px) = appearance.border_radius {
        properties.push(format!("--radius:{px}px"));
        properties.push(format!("--control-radius:{px}px"));
    }
    (!properties.is_empty()).then(|| format!(":root{{{}}}", properties.join(";")))
}

/// The CSP source allowing exactly one inline style element with this text.
fn style_hash_source(css: &str) -> String {
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(css.as_bytes())))
}

/// The checkout page's policy: nothing but our own stylesheet (plus, with an appearance, the
/// one style element whose hash is listed), merchant images over https, and the form may post
/// only to us, whose answer redirects to the merchant's URLs. With Stripe, exactly what
/// Stripe.js needs (<https://docs.stripe.com/security/guide#content-security-policy>): its
/// script and frames from its origin, 3-D Secure frames from hooks.stripe.com, and its calls
/// to the API's origin.
fn checkout_csp(session: &CheckoutSession, inline_css: Option<&str>, card_entry: &CardEntry) -> String {
    let checkout = &session.checkout;
    let mut form_targets = vec!["'self'".to_owned()];
    for url in [&checkout.success_url, &checkout.error_url, &checkout.cancel_url] {
        if let Ok(url) = url::Url::parse(url) {
            let origin = url.origin().ascii_serialization();
            if !form_targets.contains(&origin) {
                form_targets.push(origin);
            }
        }
    }
    let mut csp = format!("{}; form-action {}", branded_csp(inline_css), form_targets.join(" "));
    if let CardEntry::StripeJs(stripe) = card_entry {
        let origin = |url: &str| url::Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
        let (js, api) = (origin(&stripe.js_url), origin(&stripe.api_base));
        csp.push_str(&format!("; script-src 'self' {js}; frame-src {js} https://hooks.stripe.com; connect-src {api}"));
    }
    csp
}

/// The policy of a page in a merchant's look: nothing but our own stylesheet, plus the one
/// style element whose hash is listed when there is one, and merchant images over https.
fn branded_csp(inline_css: Option<&str>) -> String {
    let style_src = match inline_css {
        Some(css) => format!("style-src 'self' {}; ", style_hash_source(css)),
        None => String::new(),
    };
    format!("default-src 'self'; {style_src}img-src 'self' https:; frame-ancestors 'none'; base-uri 'none'")
}

/// Replaces the default policy the response would get with `csp`.
fn set_csp(response: &mut Response<Body>, csp: &str) {
    if let Ok(value) = HeaderValue::from_str(csp) {
        response.headers_mut().insert("content-security-policy", value);
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::{FormState, checkout_page};
    use crate::checkout::processor::CardEntry;
    use crate::model::{Cart, CheckoutSession, PaymentLink};
    use crate::money::MinorUnits;
    use crate::test_support::{shop_checkout, test_stripe_js};

    #[test]
    fn stripe_js_is_set_up_on_the_connect_account_the_payment_is_made_on() {
        let stripe = CardEntry::StripeJs(test_stripe_js("https://api.stripe.com"));
        for account in [Some("acct_1Connected"), None] {
            let mut checkout = shop_checkout(Cart::Amount { amount: MinorUnits(500) });
            checkout.stripe_account = account.map(str::to_owned);
            let link = PaymentLink::new("m_1", checkout, None, 7, Utc::now());
            let session = CheckoutSession::open(&link, Utc::now());
            let page = checkout_page("", &session, &[], &stripe, FormState::default()).expect("a page");
            let html = String::from_utf8(page.body().to_vec()).expect("HTML");
            let configured = html.contains(r#"data-stripe-account="acct_1Connected""#);
            assert_eq!(configured, account.is_some(), "{html}");
            assert_eq!(html.contains("data-stripe-account"), account.is_some(), "{html}");
        }
    }
}
