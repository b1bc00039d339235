//! API Gateway HTTP API (v2) events, as Lambda delivers them: the fixtures of
//! `shared/fixtures/apigw/` with their `{{PLACEHOLDERS}}` filled in.

use lambda_http::Request;
use serde_json::{Value, json};

use super::TestMerchant;
use crate::model::SessionId;

/// Where the fixtures are, whichever crate's tests read them.
pub const FIXTURES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/apigw");

/// The text of the fixture `name` (`create-link.json`…).
pub fn fixture(name: &str) -> String {
    let path = format!("{FIXTURES_DIR}/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fixture `name` as a request, each `(from, to)` of `replacements` replaced in its text.
pub fn event(name: &str, replacements: &[(&str, &str)]) -> Request {
    let mut text = fixture(name);
    for (from, to) in replacements {
        text = text.replace(from, to);
    }
    parse_event(&text)
}

/// An API Gateway v2 event's text as a request.
pub fn parse_event(text: &str) -> Request {
    lambda_http::request::from_str(text).expect("fixture is a valid API Gateway v2 event")
}

/// The create fixture (the seed's fixed-amount link) for `merchant`: its id in the body, which
/// `edit` then changes, and its keys on the request.
pub fn create_event(merchant: &TestMerchant, edit: impl FnOnce(&mut Value)) -> Request {
    parse_event(&create_event_text(merchant, edit))
}

/// The text of [`create_event`].
pub fn create_event_text(merchant: &TestMerchant, edit: impl FnOnce(&mut Value)) -> String {
    let mut raw: Value = serde_json::from_str(&fixture("create-link.json")).unwrap();
    let mut body: Value = serde_json::from_str(raw["body"].as_str().unwrap()).unwrap();
    body["merchantId"] = json!(merchant.id);
    edit(&mut body);
    raw["body"] = json!(body.to_string());
    merchant.placeholders().iter().fold(raw.to_string(), |text, (from, to)| text.replace(from, to))
}

/// Edits a create-link body (the `edit` of [`create_event`]) to sell `items` instead of its
/// fixed amount.
pub fn sell_items(body: &mut Value, items: Value) {
    body.as_object_mut().expect("a create-link body is a JSON object").remove("amount");
    body["items"] = items;
}

/// `GET /api/payment-links/{id}/check-availability` for `link` (any text, valid or not).
pub fn check_event(link: &str) -> Request {
    event("check-availability.json", &[("{{LINK_ID}}", link)])
}

/// `GET /pay/{id}` for `link` (any text, valid or not).
pub fn open_event(link: &str) -> Request {
    event("open-link.json", &[("{{LINK_ID}}", link)])
}

/// A fixture of a session's request (`checkout-page.json`, `session-status.json`,
/// `cancel.json`) for `session`, with `merchant`'s keys where it takes them.
pub fn session_event(name: &str, session: &SessionId, merchant: &TestMerchant) -> Request {
    let keys = [("{{VAULT_KEY}}", merchant.vault_key), ("{{MERCHANT_KEY}}", merchant.merchant_key)];
    event(name, &[("{{SESSION_ID}}", session.as_str()), keys[0], keys[1]])
}

/// The hosted page where a redirect sends the browser: `location`, a path on our host with its
/// query (the checkout page after a declined card: `/checkout/{id}?declined=…`).
pub fn checkout_page_at(location: &str) -> Request {
    let (path, query) = location.split_once('?').unwrap_or((location, ""));
    let session = path.rsplit('/').next().unwrap_or_default();
    let mut raw: Value =
        serde_json::from_str(&fixture("checkout-page.json").replace("{{SESSION_ID}}", session)).unwrap();
    raw["rawQueryString"] = json!(query);
    lambda_http::request::from_str(&raw.to_string()).unwrap()
}

/// The checkout form posted for `session` with its `form_token` and `card` (spaces allowed, as
/// a customer types them).
pub fn pay_event(session: &SessionId, form_token: &str, card: &str) -> Request {
    let card = card.replace(' ', "+");
    event(
        "pay.json",
        &[("{{SESSION_ID}}", session.as_str()), ("{{FORM_TOKEN}}", form_token), ("{{CARD_NUMBER}}", &card)],
    )
}

/// `POST /webhooks/stripe` with the event `body`, signed with `secret` at `timestamp` as Stripe
/// signs (HMAC-SHA256 of `"{timestamp}.{body}"`, hex, in `Stripe-Signature`).
#[cfg(feature = "stripe")]
pub fn stripe_webhook_event(body: &str, secret: &str, timestamp: i64) -> Request {
    let signature = stripe_signature(body, secret, timestamp);
    let body = json!(body).to_string();
    event("stripe-webhook.json", &[("{{STRIPE_SIGNATURE}}", &signature), ("{{BODY}}", &body)])
}

/// The `Stripe-Signature` header Stripe would send with `body` at `timestamp`.
#[cfg(feature = "stripe")]
pub fn stripe_signature(body: &str, secret: &str, timestamp: i64) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A merchant API request (`route_key` as API Gateway names the route, e.g.
/// `GET /api/webhook-endpoints/{id}`) signed with `keys` (vault key, merchant key), with a JSON
/// `body` unless it is null.
pub fn merchant_event_with_body(
    method: &str,
    route_key: &str,
    path: &str,
    params: Value,
    query: &str,
    body: Value,
    keys: (&str, &str),
) -> Request {
    let mut raw: Value = serde_json::from_str(&fixture("session-status.json")).unwrap();
    raw["routeKey"] = json!(route_key);
    raw["requestContext"]["routeKey"] = json!(route_key);
    raw["rawPath"] = json!(path);
    raw["requestContext"]["http"]["path"] = json!(path);
    raw["requestContext"]["http"]["method"] = json!(method);
    raw["rawQueryString"] = json!(query);
    raw["pathParameters"] = params;
    raw["headers"]["x-api-key"] = json!(keys.0);
    raw["headers"]["x-ozura-api-key"] = json!(keys.1);
    if !body.is_null() {
        raw["headers"]["content-type"] = json!("application/json");
        raw["body"] = json!(body.to_string());
    }
    lambda_http::request::from_str(&raw.to_string()).unwrap()
}
