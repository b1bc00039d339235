//! Handler tests fed real API Gateway HTTP API (v2) event JSON, as Lambda delivers it.

use std::sync::Arc;

use chrono::TimeDelta;
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use super::{Endpoint, handle, handle_routed};
use crate::app::{App, Config};
use crate::auth::NewMerchant;
use crate::checkout::processor::{CardEntry, TEST_CARD_DECLINED as DECLINED, TEST_CARD_SUCCESS as SUCCESS};
use crate::model::{CheckoutSession, LinkId, PaymentLink, SessionId, SessionStatus};
use crate::store::Store;
use crate::store::faulty::{Fault, FaultyStore};
use crate::test_support::{
    self, TestApp, TestMerchant, check_event, event, merchant_event_with_body, open_event, pay_event, sell_items,
};

mod contention;
mod faults;
mod iam;

const HOST: &str = "aaaaaaaaaa.execute-api.us-west-2.amazonaws.com";
const MERCHANT_ID: &str = "your_merchant_id";
const VAULT_KEY: &str = "vk_test_vault";
const MERCHANT_KEY: &str = "mk_test_merchant";
const MERCHANT: TestMerchant =
    TestMerchant { id: MERCHANT_ID, name: "My Store", vault_key: VAULT_KEY, merchant_key: MERCHANT_KEY };
/// Where every test's clock starts.
const START: &str = "2026-01-07T12:00:00.250Z";

/// The test app, called through the handlers ([`Calls`]).
type Harness = TestApp;

/// The embedded store in a fresh directory, with the merchant and the clock at [`START`].
async fn harness() -> Harness {
    TestApp::embedded(MERCHANT, START.parse().unwrap()).await
}

/// `store` with the merchant and the clock at [`START`].
async fn harness_on(store: Arc<dyn Store>) -> Harness {
    TestApp::start(store, MERCHANT, START.parse().unwrap()).await
}

/// What the tests do with the app: call its handlers as Lambda would.
trait Calls {
    /// The app whose handlers are called.
    fn app(&self) -> &App;

    async fn call(&self, endpoint: Endpoint, request: Request) -> (StatusCode, Response<Body>) {
        let response = handle(endpoint, request, self.app()).await;
        (response.status(), response)
    }

    /// Creates the seed's fixed-amount link through the create fixture; returns its id.
    async fn create_seed_link(&self) -> LinkId {
        self.create_link_with(|_| {}).await
    }

    /// Creates a link through the create fixture with the seed's body edited by `edit`.
    async fn create_link_with(&self, edit: impl FnOnce(&mut Value)) -> LinkId {
        let (status, response) = self.call(Endpoint::CreateLink, create_event(edit)).await;
        assert_eq!(status, StatusCode::CREATED, "{}", body_text(&response));
        body_json(&response)["data"]["paymentLinkId"].as_str().unwrap().parse().unwrap()
    }

    /// Stores a copy of a new seed link, changed by `change`, under a new id.
    async fn store_link(&self, change: impl FnOnce(&mut PaymentLink)) -> LinkId {
        let id = self.create_seed_link().await;
        let mut link = self.app().store.get_link(&id).await.unwrap().unwrap();
        change(&mut link);
        link.id = LinkId::generate();
        self.app().store.create_link(&link).await.unwrap();
        link.id
    }

    /// Opens `link` through the redirect fixture and returns the new session.
    async fn open_session(&self, link: &LinkId) -> CheckoutSession {
        let (status, response) = self.call(Endpoint::OpenLink, open_event(link.as_str())).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        let id: SessionId = location.rsplit('/').next().unwrap().parse().unwrap();
        self.app().store.get_session(&id).await.unwrap().unwrap()
    }

    /// Posts the checkout form of `session` with `card`.
    async fn pay(&self, session: &CheckoutSession, card: &str) -> (StatusCode, Response<Body>) {
        self.call(Endpoint::Pay, pay_event(&session.id, &session.form_token, card)).await
    }
}

impl Calls for TestApp {
    fn app(&self) -> &App {
        &self.app
    }
}

/// A change to a stored link that makes it unavailable.
type LinkEdit = fn(&mut PaymentLink);

/// The create fixture with the seed's body for the merchant, edited by `edit`.
fn create_event(edit: impl FnOnce(&mut Value)) -> Request {
    test_support::create_event(&MERCHANT, edit)
}

/// A session's fixture (`checkout-page.json`…) for `session`, with the merchant's keys.
fn session_event(name: &str, session: &SessionId) -> Request {
    test_support::session_event(name, session, &MERCHANT)
}

fn with_header(mut request: Request, name: &'static str, value: &str) -> Request {
    request.headers_mut().insert(name, value.parse().unwrap());
    request
}

fn body_text(response: &Response<Body>) -> String {
    String::from_utf8_lossy(response.body()).into_owned()
}

fn body_json(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body()).unwrap_or_else(|_| panic!("not JSON: {}", body_text(response)))
}

#[tokio::test]
async fn create_answers_the_seed_response_with_a_url_on_the_api_host() {
    let h = harness().await;
    let (status, response) = h.call(Endpoint::CreateLink, create_event(|_| {})).await;
    assert_eq!(status, StatusCode::CREATED);
    let body = body_json(&response);
    assert_eq!(body["success"], json!(true));
    let id = body["data"]["paymentLinkId"].as_str().unwrap();
    assert!(id.starts_with("pl_") && id.len() == 29, "{id}");
    assert_eq!(body["data"]["url"], json!(format!("https://{HOST}/pay/{id}")));
    // now + expiresInDays (7), written as the seed writes timestamps.
    assert_eq!(body["data"]["expiresAt"], json!("2026-01-14T12:00:00.250Z"));

    let stored = h.app.store.get_link(&id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.checkout.cart.fixed_total().map(|m| m.0), Some(5000));
    assert_eq!((stored.usage_limit, stored.used, stored.active), (Some(1), 0, true));
    assert_eq!(stored.checkout.metadata, r#"{"invoiceId":"INV-12345"}"#);
}

#[tokio::test]
async fn create_uses_the_configured_public_url_for_links() {
    let mut h = harness().await;
    h.app.config.public_url = Some("https://pay.example.com".to_owned());
    let (_, response) = h.call(Endpoint::CreateLink, create_event(|_| {})).await;
    let url = body_json(&response)["data"]["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("https://pay.example.com/pay/pl_"), "{url}");
}

#[tokio::test]
async fn create_without_keys_is_401_naming_the_header() {
    let h = harness().await;
    let mut request = create_event(|_| {});
    request.headers_mut().remove("x-api-key");
    let (status, response) = h.call(Endpoint::CreateLink, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let body = body_json(&response);
    assert_eq!(body["code"], json!("missing_api_key"));
    assert!(body["error"].as_str().unwrap().contains("X-API-KEY"));

    let mut request = create_event(|_| {});
    request.headers_mut().remove("x-ozura-api-key");
    let (status, response) = h.call(Endpoint::CreateLink, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body_json(&response)["error"].as_str().unwrap().contains("X-OZURA-API-KEY"));
}

#[tokio::test]
async fn create_with_a_wrong_key_is_401() {
    let h = harness().await;
    for (header_name, value) in [("x-api-key", "vk_wrong"), ("x-ozura-api-key", "mk_wrong")] {
        let (status, response) =
            h.call(Endpoint::CreateLink, with_header(create_event(|_| {}), header_name, value)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{header_name}");
        assert_eq!(body_json(&response)["code"], json!("invalid_api_key"));
    }
}

#[tokio::test]
async fn keys_of_one_merchant_cannot_create_links_for_another() {
    let h = harness().await;
    let other = NewMerchant::generate("other_merchant", "Other", h.app.now());
    h.app.store.create_merchant(&other.merchant).await.unwrap();
    let (status, response) =
        h.call(Endpoint::CreateLink, create_event(|body| body["merchantId"] = json!("other_merchant"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body_json(&response)["code"], json!("merchant_mismatch"));
}

#[tokio::test]
async fn create_reports_every_bad_field_at_once() {
    let h = harness().await;
    let request = create_event(|body| {
        body["amount"] = json!("50.001");
        body["successUrl"] = json!("javascript:alert(1)");
        body["expiresInDays"] = json!(0);
    });
    let (status, response) = h.call(Endpoint::CreateLink, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let body = body_json(&response);
    assert_eq!(body["code"], json!("validation_failed"));
    let details: Vec<&str> = body["details"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert_eq!(details.len(), 3, "{details:?}");
    for field in ["amount: ", "successUrl: ", "expiresInDays: "] {
        assert!(details.iter().any(|d| d.starts_with(field)), "{field} missing from {details:?}");
    }
}

#[tokio::test]
async fn create_refuses_bodies_that_are_not_json_or_too_large() {
    let h = harness().await;
    let (status, response) =
        h.call(Endpoint::CreateLink, with_header(create_event(|_| {}), "content-type", "text/plain")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body_json(&response)["code"], json!("unsupported_media_type"));

    let request = create_event(|body| body["merchantName"] = json!("x".repeat(70 * 1024)));
    let (status, response) = h.call(Endpoint::CreateLink, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body_json(&response)["code"], json!("body_too_large"));
}

/// The assets function's own path: no store at all, only the configuration.
#[test]
fn assets_are_served_without_a_store() {
    use super::{assets, handle_request_only};
    let config = Config::default();
    let asset = |file: &str| event("asset.json", &[("{{FILE}}", file)]);

    let css = handle_request_only(Endpoint::Asset, assets::serve, asset("checkout.css"), &config);
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(css.headers()[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert_eq!(css.headers()[header::CACHE_CONTROL], "public, max-age=3600");
    assert!(css.headers().contains_key(header::STRICT_TRANSPORT_SECURITY), "the security headers as on every route");
    assert_eq!(body_text(&css), include_str!("../../assets/checkout.css"), "the stylesheet itself");

    let missing = handle_request_only(Endpoint::Asset, assets::serve, asset("nothing.js"), &config);
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // Only a public route can be served without a store: the others admit their callers from it.
    let refused = handle_request_only(Endpoint::CreateLink, assets::serve, asset("checkout.css"), &config);
    assert_eq!(refused.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn check_availability_answers_in_the_seed_shapes() {
    let h = harness().await;
    let id = h.create_seed_link().await;
    let (status, response) = h.call(Endpoint::CheckAvailability, check_event(id.as_str())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body_json(&response),
        json!({"success": true, "available": true, "message": "Payment link is available"})
    );

    let cases: [(&str, LinkEdit, &str); 3] = [
        ("Payment link usage limit reached", |l| l.used = 1, "link_usage_limit_reached"),
        ("Payment link is inactive", |l| l.active = false, "link_inactive"),
        ("Payment link has expired", |l| l.expires_at = l.created_at, "link_expired"),
    ];
    for (sentence, change, code) in cases {
        let id = h.store_link(change).await;
        let (status, response) = h.call(Endpoint::CheckAvailability, check_event(id.as_str())).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body_json(&response),
            json!({"success": false, "available": false, "error": sentence, "code": code})
        );
    }
}

#[tokio::test]
async fn a_link_expires_by_the_clock_on_read() {
    let h = harness().await;
    let id = h.create_seed_link().await;
    h.advance(TimeDelta::days(7) - TimeDelta::milliseconds(1));
    let (_, response) = h.call(Endpoint::CheckAvailability, check_event(id.as_str())).await;
    assert_eq!(body_json(&response)["available"], json!(true));
    h.advance(TimeDelta::milliseconds(1));
    let (_, response) = h.call(Endpoint::CheckAvailability, check_event(id.as_str())).await;
    assert_eq!(body_json(&response)["error"], json!("Payment link has expired"));
}

#[tokio::test]
async fn unknown_and_malformed_link_ids_are_404() {
    let h = harness().await;
    for id in [LinkId::generate().to_string(), "pl_nope".to_owned(), "cs_01ARZ3NDEKTSV4RRFFQ69G5FAV".to_owned()] {
        let (status, response) = h.call(Endpoint::CheckAvailability, check_event(&id)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(body_json(&response)["code"], json!("link_not_found"));
    }
}

#[tokio::test]
async fn opening_a_link_creates_a_session_and_redirects_without_using_it_up() {
    let h = harness().await;
    let id = h.create_seed_link().await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        let (status, response) = h.call(Endpoint::OpenLink, open_event(id.as_str())).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let location = response.headers()[header::LOCATION].to_str().unwrap().to_owned();
        let session_id = location.strip_prefix(&format!("https://{HOST}/checkout/")).expect(&location);
        sessions.push(session_id.parse::<SessionId>().unwrap());
    }
    sessions.dedup();
    assert_eq!(sessions.len(), 3, "every open gets a fresh session");

    let session = h.app.store.get_session(&sessions[0]).await.unwrap().unwrap();
    assert_eq!(session.status, SessionStatus::Pending);
    assert_eq!(session.link_id, id);
    assert_eq!(session.expires_at - session.created_at, CheckoutSession::LIFETIME);
    assert_eq!(session.checkout.metadata, r#"{"invoiceId":"INV-12345"}"#);
    let link = h.app.store.get_link(&id).await.unwrap().unwrap();
    assert_eq!(link.used, 0, "opening never consumes a use");
    assert_eq!(session.checkout, link.checkout, "the session snapshots what to charge");
}

#[tokio::test]
async fn a_session_never_outlives_its_link() {
    let h = harness().await;
    let id = h.store_link(|l| l.expires_at = l.created_at + TimeDelta::minutes(10)).await;
    let (_, response) = h.call(Endpoint::OpenLink, open_event(id.as_str())).await;
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    let session_id: SessionId = location.rsplit('/').next().unwrap().parse().unwrap();
    let session = h.app.store.get_session(&session_id).await.unwrap().unwrap();
    assert_eq!(session.expires_at, h.app.now() + TimeDelta::minutes(10));
}

#[tokio::test]
async fn unavailable_links_get_a_human_page_not_json() {
    let h = harness().await;
    let cases: [(LinkEdit, StatusCode, &str); 3] = [
        (|l| l.used = 1, StatusCode::GONE, "Payment link usage limit reached"),
        (|l| l.active = false, StatusCode::GONE, "Payment link is inactive"),
        (|l| l.expires_at = l.created_at, StatusCode::GONE, "Payment link has expired"),
    ];
    for (change, expected_status, sentence) in cases {
        let id = h.store_link(change).await;
        let (status, response) = h.call(Endpoint::OpenLink, open_event(id.as_str())).await;
        assert_eq!(status, expected_status);
        assert!(response.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
        let page = body_text(&response);
        assert!(page.contains(sentence) && page.contains("<html"), "{page}");
    }
    let (status, response) = h.call(Endpoint::OpenLink, open_event(LinkId::generate().as_str())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body_text(&response).contains("Payment link not found"));
}

#[tokio::test]
async fn responses_carry_security_headers() {
    let h = harness().await;
    let id = h.create_seed_link().await;
    let (_, response) = h.call(Endpoint::OpenLink, open_event(id.as_str())).await;
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(headers.contains_key("referrer-policy"));
}

#[tokio::test]
async fn routing_answers_404_and_405_as_json() {
    let h = harness().await;
    let request = event("check-availability.json", &[("{{LINK_ID}}", "x")]);
    let (mut parts, body) = request.into_parts();
    parts.uri = "/api/nothing-here".parse().unwrap();
    let response = handle_routed(Request::from_parts(parts, body), &h.app).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_json(&response)["code"], json!("route_not_found"));

    let (mut parts, body) = create_event(|_| {}).into_parts();
    parts.method = lambda_http::http::Method::DELETE;
    let response = handle_routed(Request::from_parts(parts, body), &h.app).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

/// What turns a `$default` fixture into a request to the named stage `prod` on API Gateway's
/// own domain, as API Gateway delivers it (the stage leads the raw path).
const ON_STAGE_PROD: [(&str, &str); 3] = [
    (r#""stage": "$default""#, r#""stage": "prod""#),
    (r#""rawPath": "/"#, r#""rawPath": "/prod/"#),
    (r#""path": "/"#, r#""path": "/prod/"#),
];

#[tokio::test]
async fn on_a_named_stage_links_redirects_and_page_links_keep_the_stage() {
    let h = harness().await;
    let on_stage = |name: &str, replacements: &[(&str, &str)]| event(name, &[replacements, &ON_STAGE_PROD].concat());
    let keys = MERCHANT.placeholders();
    let (status, response) = h.call(Endpoint::CreateLink, on_stage("create-link.json", &keys)).await;
    assert_eq!(status, StatusCode::CREATED, "{}", body_text(&response));
    let data = body_json(&response)["data"].clone();
    let id = data["paymentLinkId"].as_str().unwrap();
    assert_eq!(data["url"], format!("https://{HOST}/prod/pay/{id}"));
    assert_eq!(data["qrCodeUrl"], format!("https://{HOST}/prod/api/payment-links/{id}/qr"));

    let (status, opened) = h.call(Endpoint::OpenLink, on_stage("open-link.json", &[("{{LINK_ID}}", id)])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = opened.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with(&format!("https://{HOST}/prod/checkout/cs_")), "{location}");
    let session = location.rsplit('/').next().unwrap();
    let (_, page) =
        h.call(Endpoint::CheckoutPage, on_stage("checkout-page.json", &[("{{SESSION_ID}}", session)])).await;
    let page = body_text(&page);
    for link in [
        r#"href="/prod/assets/checkout.css""#.to_owned(),
        format!(r#"action="/prod/checkout/{session}/pay""#),
        format!(r#"href="/prod/checkout/{session}/cancel""#),
    ] {
        assert!(page.contains(&link), "{link} missing from:\n{page}");
    }

    // Behind a custom domain the API mapping hides the stage from the client's path: links
    // carry none.
    let custom =
        event("open-link.json", &[("{{LINK_ID}}", id), (HOST, "pay.shop.example"), ON_STAGE_PROD[0], ON_STAGE_PROD[2]]);
    let (_, opened) = h.call(Endpoint::OpenLink, custom).await;
    let location = opened.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with("https://pay.shop.example/checkout/cs_"), "{location}");
}

#[tokio::test]
async fn an_unreachable_store_is_503_with_retry_after_never_500() {
    let (store, _dir) = crate::test_support::fresh_embedded_store();
    let app = App::new(Arc::new(FaultyStore::always(Arc::new(store), Fault::Throttle)), Config::default());
    let id = LinkId::generate();
    for (endpoint, request) in [
        (Endpoint::CreateLink, create_event(|_| {})),
        (Endpoint::CheckAvailability, check_event(id.as_str())),
        (Endpoint::OpenLink, open_event(id.as_str())),
    ] {
        let response = handle(endpoint, request, &app).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{endpoint:?}");
        assert!(response.headers().contains_key(header::RETRY_AFTER), "{endpoint:?}");
    }
}

// --- The checkout pages, as API Gateway delivers their requests.

#[tokio::test]
async fn the_checkout_page_escapes_everything_the_merchant_supplied() {
    let h = harness().await;
    let payload = r#"<script>alert("x")</script><img src=x onerror=alert(1)>"#;
    let id = h
        .create_link_with(|body| {
            body["merchantName"] = json!(payload);
            let item = json!({ "name": payload, "price": 10, "discountLabel": "<b>25%</b>",
                    "imageUrl": "https://cdn.example/a.jpg?\"><script>x</script>", "originalPrice": 12 });
            sell_items(body, json!([item]));
        })
        .await;
    let session = h.open_session(&id).await;
    let (status, page) = h.call(Endpoint::CheckoutPage, session_event("checkout-page.json", &session.id)).await;
    assert_eq!(status, StatusCode::OK);
    let page = body_text(&page);
    assert!(!page.contains("<script>") && !page.contains("<img src=x"), "unescaped payload in:\n{page}");
    assert!(page.contains("&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;"), "{page}");
    assert!(page.contains(r#"id="pay-form""#) && page.contains(&session.form_token));
}

#[tokio::test]
async fn a_donation_default_that_is_not_a_preset_is_offered_among_them_already_chosen() {
    let h = harness().await;
    let id = h
        .create_link_with(|body| {
            *body = test_support::seed_donation(MERCHANT.id);
            body["donationConfig"]["defaultAmount"] = json!(30);
        })
        .await;
    let session = h.open_session(&id).await;
    let (status, page) = h.call(Endpoint::CheckoutPage, session_event("checkout-page.json", &session.id)).await;
    assert_eq!(status, StatusCode::OK);
    let page = body_text(&page);
    let offered: Vec<&str> = page
        .split(r#"name="amount" value=""#)
        .skip(1)
        .map(|after| after.split('"').next().expect("the value's closing quote"))
        .collect();
    assert_eq!(offered, ["25.00", "30.00", "50.00", "100.00", "250.00"], "in order, the default among the presets");
    assert!(page.contains(r#"value="30.00" checked"#), "the default is chosen:\n{page}");
    assert_eq!(page.matches(" checked").count(), 1, "and nothing else is");
}

#[tokio::test]
async fn opening_a_long_cart_writes_a_small_session_and_its_page_still_lists_every_item() {
    for h in [harness().await, TestApp::dynamodb(MERCHANT, START.parse().unwrap()).await] {
        // 100 items of long names and image addresses: a link of about 45 KB.
        let names: Vec<String> = (0..100).map(|n| format!("Item {n:03} {}", "x".repeat(180))).collect();
        let id = h
            .create_link_with(|body| {
                let items = names
                    .iter()
                    .map(|name| {
                        json!({ "name": name, "price": 1.25, "quantity": 2,
                        "imageUrl": format!("https://cdn.example/{}.jpg", "i".repeat(200)) })
                    })
                    .collect();
                sell_items(body, items);
            })
            .await;
        let link = h.app().store.get_link(&id).await.unwrap().unwrap();
        let session = h.open_session(&id).await;
        let (link_bytes, session_bytes) =
            (serde_json::to_vec(&link).unwrap().len(), serde_json::to_vec(&session).unwrap().len());
        assert!(link_bytes > 40_000, "the link is {link_bytes} bytes");
        assert!(session_bytes < 2_000, "an open wrote a session of {session_bytes} bytes");

        let lists_every_item = |response: &Response<Body>| {
            let page = body_text(response);
            names.iter().all(|name| page.contains(name.as_str())) && page.contains("$250.00")
        };
        let (status, page) = h.call(Endpoint::CheckoutPage, session_event("checkout-page.json", &session.id)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(lists_every_item(&page), "the page lacks items:\n{}", body_text(&page));
        // A mistyped card: the form again, with the cart.
        let (status, page) = h.pay(&session, "4242 4242 4242 4241").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(lists_every_item(&page), "the form shown again lacks items:\n{}", body_text(&page));
        let (status, paid) = h.pay(&session, SUCCESS).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert!(paid.headers()[header::LOCATION].to_str().unwrap().contains("amount=250.00"));
    }
}

#[tokio::test]
async fn a_session_stored_with_its_items_copied_still_shows_them() {
    let h = harness().await;
    let id = h.create_link_with(|body| sell_items(body, json!([{ "name": "Copied mug", "price": 12 }]))).await;
    let link = h.app().store.get_link(&id).await.unwrap().unwrap();
    // As sessions were stored before they kept only an itemised cart's total.
    let session = CheckoutSession { checkout: link.checkout.clone(), ..CheckoutSession::open(&link, h.app().now()) };
    h.app().store.create_session(&session).await.unwrap();
    let (status, page) = h.call(Endpoint::CheckoutPage, session_event("checkout-page.json", &session.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body_text(&page).contains("Copied mug"));
}

#[tokio::test]
async fn paying_through_the_form_redirects_to_the_success_url_with_the_result() {
    let h = harness().await;
    let link = h.create_seed_link().await;
    let session = h.open_session(&link).await;
    // A declined card: post/redirect/get, back to the page saying why (a reload shows the page
    // again and never posts the form a second time).
    let (status, response) = h.pay(&session, DECLINED).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = response.headers()[header::LOCATION].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/checkout/{}?declined=declined", session.id));
    let (status, response) = h.call(Endpoint::CheckoutPage, test_support::checkout_page_at(&location)).await;
    assert_eq!(status, StatusCode::OK);
    let page = body_text(&response);
    assert!(page.contains(r#"id="form-error""#) && page.contains("Your card was declined"), "{page}");
    assert!(page.contains(&session.form_token), "the form is there for another try");
    // Only a decline the session recorded is shown: the same URL forged for a session that was
    // never declined shows the page without it.
    let untouched = h.open_session(&link).await;
    let forged = format!("/checkout/{}?declined=declined&amount=9999.00", untouched.id);
    let (status, response) = h.call(Endpoint::CheckoutPage, test_support::checkout_page_at(&forged)).await;
    assert_eq!(status, StatusCode::OK);
    let page = body_text(&response);
    assert!(!page.contains(r#"id="form-error""#) && !page.contains("9999"), "{page}");

    let (status, response) = h.pay(&session, SUCCESS).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = url::Url::parse(response.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(location.path(), "/thank-you");
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(query["success"], "true");
    assert_eq!(query["sessionId"], session.id.as_str());
    assert_eq!(query["amount"], "50.00");
    assert_eq!(query["cardLastFour"], "4242");
    assert_eq!(query["metadata"], r#"{"invoiceId":"INV-12345"}"#);

    // The merchant's server verifies before fulfilling.
    let (status, response) = h.call(Endpoint::SessionStatus, session_event("session-status.json", &session.id)).await;
    assert_eq!(status, StatusCode::OK);
    let data = body_json(&response)["data"].clone();
    assert_eq!(
        (data["status"].as_str(), data["transactionId"].as_str()),
        (Some("completed"), Some(query["transactionId"].as_str()))
    );
    assert_eq!(data["metadata"], json!({"invoiceId": "INV-12345"}));

    // Reopened: already paid. The link (usageLimit 1) is used up.
    let (_, page) = h.call(Endpoint::CheckoutPage, session_event("checkout-page.json", &session.id)).await;
    assert!(body_text(&page).contains("already been paid"));
    let (_, response) = h.call(Endpoint::CheckAvailability, check_event(link.as_str())).await;
    assert_eq!(body_json(&response)["error"], json!("Payment link usage limit reached"));
}

#[tokio::test]
async fn no_card_number_or_cvc_appears_in_any_response_or_stored_item() {
    let h = harness().await;
    let link = h.create_seed_link().await;
    let session = h.open_session(&link).await;
    let mut bodies = Vec::new();
    for card in [DECLINED, SUCCESS] {
        let (_, response) = h.pay(&session, card).await;
        bodies.push(format!("{:?}{}", response.headers(), body_text(&response)));
    }
    let (_, response) = h.call(Endpoint::SessionStatus, session_event("session-status.json", &session.id)).await;
    bodies.push(body_text(&response));
    let stored = format!("{:?}", h.app.store.get_session(&session.id).await.unwrap());
    let store_file = std::fs::read(h.store_file().unwrap()).unwrap();
    for secret in [SUCCESS, DECLINED, "cvc=123"] {
        for body in &bodies {
            assert!(!body.contains(secret), "{secret} in a response");
        }
        assert!(!stored.contains(secret), "{secret} in the session");
        assert!(!store_file.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} in the store file");
    }
}

#[tokio::test]
async fn an_expired_session_shows_an_expiry_page_leading_to_the_cancel_url() {
    let h = harness().await;
    let link = h.create_seed_link().await;
    let session = h.open_session(&link).await;
    h.advance(CheckoutSession::LIFETIME);
    let (status, response) = h.call(Endpoint::CheckoutPage, session_event("checkout-page.json", &session.id)).await;
    assert_eq!(status, StatusCode::GONE);
    let page = body_text(&response);
    assert!(page.contains("expired") && page.contains(r#"href="https://mystore.com/cancelled""#), "{page}");
    let (status, _) = h.pay(&session, SUCCESS).await;
    assert_eq!(status, StatusCode::GONE);
}

#[tokio::test]
async fn cancel_returns_to_the_cancel_url_with_nothing_added() {
    let h = harness().await;
    let link = h.create_seed_link().await;
    let session = h.open_session(&link).await;
    let (status, response) = h.call(Endpoint::Cancel, session_event("cancel.json", &session.id)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "https://mystore.com/cancelled");
    let stored = h.app.store.get_session(&session.id).await.unwrap().unwrap();
    assert_eq!(stored.status, SessionStatus::Cancelled);
    assert_eq!(h.app.store.get_link(&link).await.unwrap().unwrap().used, 0);
    // DESIGN: 409 for a session cancelled already (410 is for an expired one).
    let (status, _) = h.pay(&stored, SUCCESS).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn another_merchant_cannot_read_a_session() {
    let h = harness().await;
    let link = h.create_seed_link().await;
    let session = h.open_session(&link).await;
    let other = NewMerchant::generate("other_merchant", "Other", h.app.now());
    h.app.store.create_merchant(&other.merchant).await.unwrap();
    let request = event(
        "session-status.json",
        &[
            ("{{SESSION_ID}}", session.id.as_str()),
            ("{{VAULT_KEY}}", &other.vault_key),
            ("{{MERCHANT_KEY}}", &other.merchant_key),
        ],
    );
    let (status, response) = h.call(Endpoint::SessionStatus, request).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body_json(&response)["code"], json!("session_not_found"));
}

fn qr_event(link: &LinkId, query: &str, vault_key: &str, merchant_key: &str) -> Request {
    event(
        "qr.json",
        &[
            ("{{LINK_ID}}", link.as_str()),
            ("{{QUERY}}", query),
            ("{{VAULT_KEY}}", vault_key),
            ("{{MERCHANT_KEY}}", merchant_key),
        ],
    )
}

/// Decodes a QR code from a grayscale image, as a phone camera would.
fn decode_qr(image: image::GrayImage) -> String {
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "exactly one QR code in the image");
    grids[0].decode().expect("QR decodes").1
}

#[tokio::test]
async fn the_qr_code_decodes_back_to_the_link_url_as_png_and_svg() {
    let h = harness().await;
    let (_, created) = h.call(Endpoint::CreateLink, create_event(|_| {})).await;
    let created = body_json(&created)["data"].clone();
    let link: LinkId = created["paymentLinkId"].as_str().unwrap().parse().unwrap();
    let url = created["url"].as_str().unwrap();
    assert_eq!(created["qrCodeUrl"], json!(format!("https://{HOST}/api/payment-links/{link}/qr")));

    let (status, response) =
        h.call(Endpoint::QrCode, qr_event(&link, "format=png&size=300", VAULT_KEY, MERCHANT_KEY)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/png");
    let png = image::load_from_memory(response.body()).expect("a PNG").to_luma8();
    assert!(png.width() >= 300, "at least the requested size");
    assert_eq!(decode_qr(png), url);

    let (status, response) = h.call(Endpoint::QrCode, qr_event(&link, "", VAULT_KEY, MERCHANT_KEY)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/svg+xml");
    let svg = body_text(&response);
    assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{}", &svg[..80.min(svg.len())]);
}

#[tokio::test]
async fn qr_options_are_validated_and_the_code_is_public_and_cacheable() {
    let h = harness().await;
    let link = h.create_seed_link().await;
    let (status, response) =
        h.call(Endpoint::QrCode, qr_event(&link, "format=gif&size=9", VAULT_KEY, MERCHANT_KEY)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let details = body_json(&response)["details"].clone();
    assert_eq!(details.as_array().unwrap().len(), 2, "{details}");
    // An invoice email's <img> sends no keys: the code shows nothing the link's URL does not.
    let (status, response) = h.call(Endpoint::QrCode, qr_event(&link, "format=png", "", "")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "public, max-age=86400");
    assert_eq!(
        decode_qr(image::load_from_memory(response.body()).unwrap().to_luma8()),
        format!("https://{HOST}/pay/{link}")
    );
    let unknown = LinkId::generate();
    let (status, _) = h.call(Endpoint::QrCode, qr_event(&unknown, "", "", "")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// --- The merchant API: look up, list, switch off and on, idempotent create.

/// A merchant API request as API Gateway delivers it, with the given keys.
fn merchant_event(
    method: &str,
    route_key: &str,
    path: &str,
    params: Value,
    query: &str,
    keys: (&str, &str),
) -> Request {
    merchant_event_with_body(method, route_key, path, params, query, Value::Null, keys)
}

const OWN_KEYS: (&str, &str) = (VAULT_KEY, MERCHANT_KEY);

fn get_link_event(id: &LinkId, keys: (&str, &str)) -> Request {
    let path = format!("/api/payment-links/{id}");
    merchant_event("GET", "GET /api/payment-links/{id}", &path, json!({ "id": id }), "", keys)
}

fn list_event(query: &str, keys: (&str, &str)) -> Request {
    merchant_event("GET", "GET /api/payment-links", "/api/payment-links", Value::Null, query, keys)
}

fn switch_event(id: &LinkId, action: &str, keys: (&str, &str)) -> Request {
    let path = format!("/api/payment-links/{id}/{action}");
    merchant_event("POST", &format!("POST /api/payment-links/{{id}}/{action}"), &path, json!({ "id": id }), "", keys)
}

#[tokio::test]
async fn a_link_blocked_for_card_testing_says_until_when_and_activating_it_lifts_the_block() {
    let h = harness().await;
    let id = h.create_seed_link().await;
    let shown = async || {
        let (status, response) = h.call(Endpoint::GetLink, get_link_event(&id, OWN_KEYS)).await;
        assert_eq!(status, StatusCode::OK);
        body_json(&response)["data"]["paymentsBlockedUntil"].clone()
    };
    assert_eq!(shown().await, Value::Null);
    let until = h.app.now() + TimeDelta::minutes(7);
    h.app.store.block_payments(&id, until).await.unwrap();
    assert_eq!(shown().await, json!(crate::api::views::format_timestamp(until)));
    // A customer meets the block…
    let session = h.open_session(&id).await;
    assert_eq!(h.pay(&session, SUCCESS).await.0, StatusCode::TOO_MANY_REQUESTS);
    // …until the merchant switches the link on again.
    assert_eq!(h.call(Endpoint::ActivateLink, switch_event(&id, "activate", OWN_KEYS)).await.0, StatusCode::OK);
    assert_eq!(shown().await, Value::Null);
    assert_eq!(h.pay(&session, SUCCESS).await.0, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_link_is_shown_with_its_status_and_usage() {
    let h = harness().await;
    let id = h.create_seed_link().await;
    let (status, response) = h.call(Endpoint::GetLink, get_link_event(&id, OWN_KEYS)).await;
    assert_eq!(status, StatusCode::OK);
    let data = body_json(&response)["data"].clone();
    assert_eq!(data["paymentLinkId"], json!(id));
    assert_eq!(data["status"], json!("active"));
    assert_eq!(data["amount"], json!("50.00"));
    assert_eq!(data["usage"], json!({ "used": 0, "limit": 1, "remaining": 1 }));
    assert_eq!(data["metadata"], json!({ "invoiceId": "INV-12345" }));
    assert_eq!(data["createdAt"], json!("2026-01-07T12:00:00.250Z"));

    let session = h.open_session(&id).await;
    h.pay(&session, SUCCESS).await;
    let (_, response) = h.call(Endpoint::GetLink, get_link_event(&id, OWN_KEYS)).await;
    let data = body_json(&response)["data"].clone();
    assert_eq!((data["status"].clone(), data["usage"]["remaining"].clone()), (json!("limit_reached"), json!(0)));
}

#[tokio::test]
async fn another_merchant_can_neither_read_list_nor_switch_a_link() {
    let h = harness().await;
    let id = h.create_seed_link().await;
    let other = NewMerchant::generate("other_merchant", "Other", h.app.now());
    h.app.store.create_merchant(&other.merchant).await.unwrap();
    let keys = (other.vault_key.as_str(), other.merchant_key.as_str());
    let (status, response) = h.call(Endpoint::GetLink, get_link_event(&id, keys)).await;
    assert_eq!((status, body_json(&response)["code"].clone()), (StatusCode::NOT_FOUND, json!("link_not_found")));
    for action in ["deactivate", "activate"] {
        let endpoint = if action == "deactivate" { Endpoint::DeactivateLink } else { Endpoint::ActivateLink };
        let (status, _) = h.call(endpoint, switch_event(&id, action, keys)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}");
    }
    assert!(h.app.store.get_link(&id).await.unwrap().unwrap().active, "the owner's link is untouched");
    let (_, response) = h.call(Endpoint::ListLinks, list_event("", keys)).await;
    assert_eq!(body_json(&response)["data"], json!([]));
}

#[tokio::test]
async fn links_are_listed_newest_first_in_pages_with_opaque_cursors() {
    let h = harness().await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(h.create_seed_link().await.to_string());
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    created.reverse();
    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let (status, response) = h.call(Endpoint::ListLinks, list_event(&query, OWN_KEYS)).await;
        assert_eq!(status, StatusCode::OK);
        let body = body_json(&response);
        seen.extend(body["data"].as_array().unwrap().iter().map(|l| l["paymentLinkId"].as_str().unwrap().to_owned()));
        match body["nextCursor"].as_str() {
            Some(cursor) => {
                assert!(!cursor.contains("pl_"), "cursors are opaque");
                query = format!("limit=2&cursor={cursor}");
            }
            None => break,
        }
    }
    assert_eq!(seen, created);

    h.call(Endpoint::DeactivateLink, switch_event(&created[1].parse().unwrap(), "deactivate", OWN_KEYS)).await;
    let (_, response) = h.call(Endpoint::ListLinks, list_event("status=inactive", OWN_KEYS)).await;
    let inactive: Vec<_> =
        body_json(&response)["data"].as_array().unwrap().iter().map(|l| l["paymentLinkId"].clone()).collect();
    assert_eq!(inactive, vec![json!(created[1])]);

    let (status, response) = h.call(Endpoint::ListLinks, list_event("limit=0&cursor=xyz&status=gone", OWN_KEYS)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let details = body_json(&response)["details"].clone();
    for field in ["limit: ", "cursor: ", "status: "] {
        assert!(
            details.as_array().unwrap().iter().any(|d| d.as_str().unwrap().starts_with(field)),
            "{field} {details}"
        );
    }
    // A parameter given twice means two things to two readers: refused, not the first taken.
    let (status, response) = h.call(Endpoint::ListLinks, list_event("status=active&status=bogus", OWN_KEYS)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body_json(&response)["details"], json!(["status: must be given only once"]));
}

#[tokio::test]
async fn deactivating_takes_effect_at_once_even_on_open_checkouts() {
    let h = harness().await;
    let id = h.create_seed_link().await;
    let session = h.open_session(&id).await;
    let (status, response) = h.call(Endpoint::DeactivateLink, switch_event(&id, "deactivate", OWN_KEYS)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body_json(&response)["data"]["status"], json!("inactive"));

    let (_, response) = h.call(Endpoint::CheckAvailability, check_event(id.as_str())).await;
    assert_eq!(body_json(&response)["error"], json!("Payment link is inactive"));
    let (status, _) = h.call(Endpoint::OpenLink, open_event(id.as_str())).await;
    assert_eq!(status, StatusCode::GONE, "no new sessions");
    let (status, page) = h.pay(&session, SUCCESS).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body_text(&page).contains("not been charged"));
    assert_eq!(
        h.app.store.get_charge(&format!("{}:1", session.id)).await.unwrap(),
        None,
        "the processor was never called"
    );

    let (status, _) = h.call(Endpoint::ActivateLink, switch_event(&id, "activate", OWN_KEYS)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h.pay(&session, SUCCESS).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "switched back on, the same checkout can pay");
}

#[tokio::test]
async fn an_idempotency_key_returns_the_original_link_and_refuses_another_body() {
    let h = harness().await;
    let with_key = |key: &str, edit: fn(&mut Value)| with_header(create_event(edit), "idempotency-key", key);
    let (status, first) = h.call(Endpoint::CreateLink, with_key("order-42", |_| {})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, again) = h.call(Endpoint::CreateLink, with_key("order-42", |_| {})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body_json(&again), body_json(&first), "the original response, the same link");

    let (status, response) = h.call(Endpoint::CreateLink, with_key("order-42", |b| b["amount"] = json!("51.00"))).await;
    assert_eq!(status, StatusCode::CONFLICT, "DESIGN: 409 for an idempotency conflict");
    assert_eq!(body_json(&response)["code"], json!("idempotency_key_reused"));

    // A failed validation does not use the key up.
    let (status, _) = h.call(Endpoint::CreateLink, with_key("order-43", |b| b["amount"] = json!("0"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = h.call(Endpoint::CreateLink, with_key("order-43", |_| {})).await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, response) = h.call(Endpoint::CreateLink, with_key(&"k".repeat(256), |_| {})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body_json(&response)["details"][0].as_str().unwrap().starts_with("Idempotency-Key: "));

    let (_, response) = h.call(Endpoint::ListLinks, list_event("", OWN_KEYS)).await;
    assert_eq!(body_json(&response)["data"].as_array().unwrap().len(), 2, "two keys, two links");
}

#[tokio::test]
async fn the_route_table_resolves_every_merchant_route() {
    let h = harness().await;
    let id = h.create_seed_link().await;
    for (method, path, expected) in [
        ("GET", "/api/payment-links".to_owned(), StatusCode::OK),
        ("GET", format!("/api/payment-links/{id}"), StatusCode::OK),
        ("POST", format!("/api/payment-links/{id}/deactivate"), StatusCode::OK),
        ("POST", format!("/api/payment-links/{id}/activate"), StatusCode::OK),
        ("GET", format!("/api/payment-links/{id}/qr"), StatusCode::OK),
        ("GET", format!("/api/payment-links/{id}/check-availability"), StatusCode::OK),
    ] {
        let request = merchant_event(method, "$default", &path, Value::Null, "", OWN_KEYS);
        let (mut parts, body) = request.into_parts();
        parts.uri = path.parse().unwrap();
        let response = handle_routed(Request::from_parts(parts, body), &h.app).await;
        assert_eq!(response.status(), expected, "{method} {path}: {}", body_text(&response));
    }
}

// --- Appearance: the merchant's colours reach the page through one hashed style block.

/// The text of the page's only inline `<style>` element, exactly as served.
fn inline_style(page: &str) -> Option<&str> {
    let start = page.find("<style>")? + "<style>".len();
    let end = start + page[start..].find("</style>")?;
    assert_eq!(page.matches("<style").count(), 1, "one style element at most:\n{page}");
    Some(&page[start..end])
}

/// The CSP source a browser would compute for an inline element with this text.
fn csp_hash_of(text: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text.as_bytes())))
}

fn csp_of(response: &Response<Body>) -> String {
    response.headers()["content-security-policy"].to_str().unwrap().to_owned()
}

fn csp_directive<'a>(csp: &'a str, name: &str) -> Option<&'a str> {
    csp.split(';').map(str::trim).find(|d| d.split_whitespace().next() == Some(name))
}

/// The CSP allows the style block by its hash and nothing else inline.
fn assert_only_this_style_is_allowed(response: &Response<Body>, css: &str) {
    let csp = csp_of(response);
    assert_eq!(
        csp_directive(&csp, "style-src"),
        Some(format!("style-src 'self' {}", csp_hash_of(css)).as_str()),
        "{csp}"
    );
    assert_eq!(csp_directive(&csp, "default-src"), Some("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(csp.matches("sha256-").count(), 1, "{csp}");
}

#[tokio::test]
async fn a_branded_checkout_page_allows_exactly_its_own_style_block_by_hash() {
    let h = harness().await;
    let logo = r#"https://cdn.mystore.com/logo.png?v=1&alt="><script>alert(1)</script>"#;
    let id = h
        .create_link_with(|body| {
            body["appearance"] = json!({
                "primaryColor": "#1A56DB",
                "backgroundColor": "#fef3c7",
                "textColor": "#111827",
                "buttonBackgroundColor": "#fd0",
                "logoUrl": logo,
                "borderRadius": 4
            });
        })
        .await;
    let session = h.open_session(&id).await;

    let (status, response) = h.call(Endpoint::CheckoutPage, session_event("checkout-page.json", &session.id)).await;
    assert_eq!(status, StatusCode::OK);
    let page = body_text(&response);
    let css = inline_style(&page).expect("a style block");
    // Only custom properties, only validated values; button text picked for contrast (black on
    // yellow, white on blue).
    assert_eq!(
        css,
        ":root{--primary:#1a56db;--primary-text:#ffffff;--button-bg:#ffdd00;--button-text:#000000;\
         --bg:#fef3c7;--text:#111827;--radius:4px;--control-radius:4px}"
    );
    assert_only_this_style_is_allowed(&response, css);
    assert!(!page.contains(" style="), "no inline style attributes:\n{page}");

    // The logo is shown: its URL as stored (normalized, so percent-encoded), escaped inside
    // its attribute.
    assert!(
        page.contains(
            r#"<img class="logo" src="https://cdn.mystore.com/logo.png?v=1&#38;alt=%22%3E%3Cscript%3Ealert(1)%3C/script%3E" alt="">"#
        ),
        "{page}"
    );
    assert!(!page.contains("<script>"), "{page}");

    // The page after a declined card carries the same look under the same rule.
    let (status, response) = h.pay(&session, DECLINED).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    let (status, response) = h.call(Endpoint::CheckoutPage, test_support::checkout_page_at(location)).await;
    assert_eq!(status, StatusCode::OK);
    let page = body_text(&response);
    assert!(page.contains(r#"id="form-error""#), "{page}");
    assert_eq!(inline_style(&page), Some(css));
    assert_only_this_style_is_allowed(&response, css);

    // So does the page that stops a client after too many declined cards.
    for _ in 1..crate::checkout::guard::DECLINES_PER_CLIENT {
        assert_eq!(h.pay(&session, DECLINED).await.0, StatusCode::SEE_OTHER);
    }
    let (status, response) = h.pay(&session, SUCCESS).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let page = body_text(&response);
    assert_eq!(inline_style(&page), Some(css), "{page}");
    assert_only_this_style_is_allowed(&response, css);
}

#[tokio::test]
async fn a_checkout_page_without_appearance_has_no_inline_style_and_no_hash() {
    let h = harness().await;
    for appearance in [None, Some(json!({})), Some(json!({ "logoUrl": "https://cdn.mystore.com/logo.png" }))] {
        let has_logo = appearance.as_ref().is_some_and(|a| a.get("logoUrl").is_some());
        let id = h
            .create_link_with(|body| {
                if let Some(appearance) = appearance {
                    body["appearance"] = appearance;
                }
            })
            .await;
        let session = h.open_session(&id).await;
        let (status, response) = h.call(Endpoint::CheckoutPage, session_event("checkout-page.json", &session.id)).await;
        assert_eq!(status, StatusCode::OK);
        let page = body_text(&response);
        assert_eq!(inline_style(&page), None, "{page}");
        let csp = csp_of(&response);
        assert!(!csp.contains("sha256") && csp_directive(&csp, "style-src").is_none(), "{csp}");
        assert_eq!(csp_directive(&csp, "default-src"), Some("default-src 'self'"), "{csp}");
        assert_eq!(page.contains(r#"<img class="logo" src="https://cdn.mystore.com/logo.png" alt="">"#), has_logo);
    }
}

#[tokio::test]
async fn appearance_values_that_try_to_inject_css_are_refused_and_create_nothing() {
    let h = harness().await;
    for (field, value) in [
        ("primaryColor", json!("#fff}body{display:none")),
        ("backgroundColor", json!("#fff; background:url(https://evil.example/x)")),
        ("textColor", json!("expression(alert(1))")),
        ("buttonBackgroundColor", json!("#000</style><script>alert(1)</script>")),
        ("logoUrl", json!("javascript:alert(1)")),
        ("borderRadius", json!("8px;}*{display:none")),
        ("customCss", json!("body{display:none}")),
    ] {
        let (status, response) =
            h.call(Endpoint::CreateLink, create_event(|body| body["appearance"] = json!({ field: value }))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}");
        let body = body_json(&response);
        let details: Vec<&str> = body["details"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
        assert_eq!(details.len(), 1, "{details:?}");
        assert!(details[0].starts_with(&format!("appearance.{field}: ")), "{details:?}");
        let value_text = value.as_str().unwrap();
        assert!(!body.to_string().contains(value_text), "the refused value is not echoed: {body}");
    }
    let (_, response) = h.call(Endpoint::ListLinks, list_event("", OWN_KEYS)).await;
    assert_eq!(body_json(&response)["data"].as_array().unwrap().len(), 0, "no link was created");
}

#[tokio::test]
async fn merchant_api_requests_beyond_the_rate_limit_get_429_with_retry_after() {
    let mut h = harness().await;
    h.app.config.api_requests_per_minute = 3;
    let id = h.create_seed_link().await;
    for _ in 0..2 {
        let (status, _) = h.call(Endpoint::GetLink, get_link_event(&id, OWN_KEYS)).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, response) = h.call(Endpoint::GetLink, get_link_event(&id, OWN_KEYS)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body_json(&response)["code"], json!("rate_limited"));
    let retry_after: u64 = response.headers()[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    // The limit is per merchant and per minute.
    h.advance(TimeDelta::seconds(60));
    let (status, _) = h.call(Endpoint::GetLink, get_link_event(&id, OWN_KEYS)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_405_lists_the_path_s_methods_in_allow() {
    // Found by schemathesis (scripts/api-contract.sh): `TRACE /pay/{id}` answered 405 without
    // the `Allow` header RFC 9110 requires.
    let h = harness().await;
    for (method, path, allow) in [
        ("TRACE", "/pay/pl_01KAW7Q8R0N9ZQ4XJ3F5T6V7W8", "GET, HEAD"),
        ("DELETE", "/api/payment-links/create", "POST"),
        ("PUT", "/checkout/cs_01KAW7R2M4P6Q8S0T2V4W6X8Y0/pay", "POST"),
        ("PATCH", "/api/payment-links", "GET, HEAD"),
    ] {
        let (mut parts, body) = create_event(|_| {}).into_parts();
        parts.method = method.parse().unwrap();
        parts.uri = path.parse().unwrap();
        let response = handle_routed(Request::from_parts(parts, body), &h.app).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(response.headers()[header::ALLOW], allow, "{method} {path}");
        assert_eq!(body_json(&response)["code"], json!("method_not_allowed"));
    }
}

#[tokio::test]
async fn a_create_retried_after_any_store_fault_with_its_idempotency_key_makes_one_link() {
    let mut h = harness().await;
    let faulty = Arc::new(FaultyStore::new(Arc::clone(&h.app.store)));
    h.app.store = faulty.clone();
    let request = |key: &str| with_header(create_event(|_| {}), "idempotency-key", key);
    let before = faulty.calls();
    h.call(Endpoint::CreateLink, request("warm-up")).await;
    let steps = faulty.calls() - before;
    for step in 0..steps {
        for fault in [Fault::Throttle, Fault::Ambiguous] {
            let key = format!("order-{step}-{fault:?}");
            faulty.fail_call(step, fault);
            let (status, response) = h.call(Endpoint::CreateLink, request(&key)).await;
            faulty.heal();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                assert!(response.headers().contains_key(header::RETRY_AFTER));
            } else {
                assert_eq!(status, StatusCode::CREATED, "{fault:?} at {step}: {}", body_text(&response));
            }
            let (status, retried) = h.call(Endpoint::CreateLink, request(&key)).await;
            assert_eq!(status, StatusCode::CREATED, "{fault:?} at {step}: the retry succeeds");
            let id = body_json(&retried)["data"]["paymentLinkId"].clone();
            let (_, again) = h.call(Endpoint::CreateLink, request(&key)).await;
            assert_eq!(body_json(&again)["data"]["paymentLinkId"], id, "{fault:?} at {step}: one link per key");
        }
    }
    let (_, listed) = h.call(Endpoint::ListLinks, list_event("limit=100", OWN_KEYS)).await;
    assert_eq!(body_json(&listed)["data"].as_array().unwrap().len(), 1 + 2 * steps, "no link lost, none doubled");
}

// --- Events

fn events_event(query: &str, keys: (&str, &str)) -> Request {
    merchant_event("GET", "GET /api/events", "/api/events", Value::Null, query, keys)
}

fn redeliver_event(id: &str, keys: (&str, &str)) -> Request {
    let path = format!("/api/events/{id}/redeliver");
    merchant_event("POST", "POST /api/events/{id}/redeliver", &path, json!({ "id": id }), "", keys)
}

#[tokio::test]
async fn every_payment_is_an_event_the_merchant_lists_and_pages_through() {
    let h = harness().await;
    let link = h.create_link_with(|body| body["usageLimit"] = json!(2)).await;
    for _ in 0..2 {
        let session = h.open_session(&link).await;
        assert_eq!(h.pay(&session, SUCCESS).await.0, StatusCode::SEE_OTHER);
    }
    let (status, response) = h.call(Endpoint::ListEvents, events_event("", OWN_KEYS)).await;
    assert_eq!(status, StatusCode::OK, "{}", body_text(&response));
    let body = body_json(&response);
    let kinds: Vec<&str> = body["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["payment_link.usage_limit_reached", "checkout.session.completed", "checkout.session.completed"]);
    let paid = &body["data"][1];
    assert!(paid["id"].as_str().unwrap().starts_with("evt_"), "{paid}");
    assert_eq!(paid["data"]["paymentLinkId"], link.as_str());
    assert_eq!((&paid["data"]["amount"], &paid["data"]["currency"]), (&json!("50.00"), &json!("USD")), "{paid}");
    assert_eq!(paid["data"]["metadata"]["invoiceId"], "INV-12345", "{paid}");
    assert_eq!(body["data"][0]["data"]["used"], 2);

    // One kind, one at a time: the cursor walks them all.
    let (_, first) =
        h.call(Endpoint::ListEvents, events_event("type=checkout.session.completed&limit=1", OWN_KEYS)).await;
    let first = body_json(&first);
    assert_eq!((first["data"].as_array().unwrap().len(), &first["hasMore"]), (1, &json!(true)));
    let after = first["nextCursor"].as_str().unwrap();
    let query = format!("type=checkout.session.completed&limit=1&after={after}");
    let (_, second) = h.call(Endpoint::ListEvents, events_event(&query, OWN_KEYS)).await;
    let second = body_json(&second);
    assert_eq!((second["data"].as_array().unwrap().len(), &second["hasMore"]), (1, &json!(false)));
    assert_ne!(first["data"][0]["id"], second["data"][0]["id"]);

    for (query, field) in [("type=payment.done", "type:"), ("after=xyz", "after:"), ("limit=0", "limit:")] {
        let (status, response) = h.call(Endpoint::ListEvents, events_event(query, OWN_KEYS)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(body_text(&response).contains(field), "{query}: {}", body_text(&response));
    }
}

fn webhook_endpoints_event(method: &str, id: Option<&str>, body: Value, keys: (&str, &str)) -> Request {
    webhook_endpoint_action_event(method, id, "", body, "", keys)
}

/// `POST /api/webhook-endpoints/{id}/rotate-secret`.
fn rotate_secret_event(id: &str, keys: (&str, &str)) -> Request {
    webhook_endpoint_action_event("POST", Some(id), "/rotate-secret", Value::Null, "", keys)
}

/// `GET /api/webhook-endpoints/{id}/deliveries?{query}`.
fn deliveries_event(id: &str, query: &str, keys: (&str, &str)) -> Request {
    webhook_endpoint_action_event("GET", Some(id), "/deliveries", Value::Null, query, keys)
}

fn webhook_endpoint_action_event(
    method: &str,
    id: Option<&str>,
    action: &str,
    body: Value,
    query: &str,
    keys: (&str, &str),
) -> Request {
    let (route, path, params) = match id {
        Some(id) => (
            format!("{method} /api/webhook-endpoints/{{id}}{action}"),
            format!("/api/webhook-endpoints/{id}{action}"),
            json!({ "id": id }),
        ),
        None => (format!("{method} /api/webhook-endpoints"), "/api/webhook-endpoints".to_owned(), Value::Null),
    };
    merchant_event_with_body(method, &route, &path, params, query, body, keys)
}

#[tokio::test]
async fn a_merchant_registers_lists_and_removes_webhook_endpoints_and_sees_only_its_own() {
    let h = harness().await;
    let body = json!({ "url": "https://shop.example/hooks", "events": ["checkout.session.completed"] });
    let (status, created) =
        h.call(Endpoint::CreateWebhookEndpoint, webhook_endpoints_event("POST", None, body, OWN_KEYS)).await;
    assert_eq!(status, StatusCode::CREATED, "{}", body_text(&created));
    let created = body_json(&created)["data"].clone();
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    let id = created["id"].as_str().unwrap().to_owned();
    let (_, listed) =
        h.call(Endpoint::ListWebhookEndpoints, webhook_endpoints_event("GET", None, Value::Null, OWN_KEYS)).await;
    let listed = body_json(&listed);
    assert_eq!(listed["data"][0]["url"], "https://shop.example/hooks");
    assert!(listed["data"][0].get("secret").is_none(), "{listed}");
    // Deployments take public https URLs only.
    for url in ["http://shop.example/hooks", "https://169.254.169.254/latest", "https://127.0.0.1/h"] {
        let request = webhook_endpoints_event("POST", None, json!({ "url": url }), OWN_KEYS);
        let (status, refused) = h.call(Endpoint::CreateWebhookEndpoint, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}");
        assert!(body_text(&refused).contains("url:"), "{url}: {}", body_text(&refused));
    }
    let (status, rotated) = h.call(Endpoint::RotateWebhookSecret, rotate_secret_event(&id, OWN_KEYS)).await;
    assert_eq!(status, StatusCode::OK, "{}", body_text(&rotated));
    let rotated = body_json(&rotated)["data"].clone();
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_") && rotated["secret"] != created["secret"]);
    assert!(rotated["previousSecretExpiresAt"].is_string(), "{rotated}");
    let (status, _) = h
        .call(Endpoint::DeleteWebhookEndpoint, webhook_endpoints_event("DELETE", Some(&id), Value::Null, OWN_KEYS))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, gone) = h
        .call(Endpoint::DeleteWebhookEndpoint, webhook_endpoints_event("DELETE", Some(&id), Value::Null, OWN_KEYS))
        .await;
    assert_eq!(
        (status, body_json(&gone)["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("webhook_endpoint_not_found"))
    );
}

#[tokio::test]
async fn a_merchant_reads_one_endpoint_and_its_delivery_log_page_by_page() {
    let h = harness().await;
    let body = json!({ "url": "https://shop.example/hooks", "description": "orders" });
    let (_, created) =
        h.call(Endpoint::CreateWebhookEndpoint, webhook_endpoints_event("POST", None, body, OWN_KEYS)).await;
    let id = body_json(&created)["data"]["id"].as_str().unwrap().to_owned();
    let (status, shown) =
        h.call(Endpoint::GetWebhookEndpoint, webhook_endpoints_event("GET", Some(&id), Value::Null, OWN_KEYS)).await;
    assert_eq!(status, StatusCode::OK);
    let shown = body_json(&shown)["data"].clone();
    assert_eq!((&shown["id"], &shown["description"], shown.get("secret")), (&json!(id), &json!("orders"), None));
    assert_eq!((&shown["failingSince"], &shown["disabledReason"]), (&Value::Null, &Value::Null), "{shown}");

    // A paid link of one use: two events, their deliveries as a dispatcher records them (the
    // first one failed once, then got through).
    let link = h.create_seed_link().await;
    let session = h.open_session(&link).await;
    assert_eq!(h.pay(&session, SUCCESS).await.0, StatusCode::SEE_OTHER);
    let now = h.app.now();
    for (n, mut event) in h.app.store.due_events(now, 10).await.unwrap().into_iter().enumerate() {
        let delivery = event.deliveries.entry(id.clone()).or_default();
        if n == 0 {
            delivery.record_attempt(now, Some(500), 120, |_| Some(now + TimeDelta::seconds(5)));
        }
        delivery.record_attempt(now + TimeDelta::seconds(5), Some(204), 35, |_| None);
        event.due_at = None;
        assert!(h.app.store.record_deliveries(&event).await.unwrap());
    }

    let (status, page) = h.call(Endpoint::ListWebhookDeliveries, deliveries_event(&id, "limit=1", OWN_KEYS)).await;
    assert_eq!(status, StatusCode::OK, "{}", body_text(&page));
    let page = body_json(&page);
    assert_eq!((page["data"].as_array().unwrap().len(), &page["hasMore"]), (1, &json!(true)), "{page}");
    let newest = &page["data"][0];
    assert_eq!(
        (&newest["eventType"], &newest["delivered"]),
        (&json!("payment_link.usage_limit_reached"), &json!(true))
    );
    assert_eq!(newest["attempts"].as_array().unwrap().len(), 1, "{newest}");
    let cursor = page["nextCursor"].as_str().unwrap();
    let (_, page) =
        h.call(Endpoint::ListWebhookDeliveries, deliveries_event(&id, &format!("after={cursor}"), OWN_KEYS)).await;
    let page = body_json(&page);
    assert_eq!((page["data"].as_array().unwrap().len(), &page["hasMore"]), (1, &json!(false)), "{page}");
    let paid = &page["data"][0];
    assert_eq!(paid["eventType"], "checkout.session.completed");
    assert_eq!(
        paid["attempts"],
        json!([
            { "attempt": 1, "attemptedAt": "2026-01-07T12:00:00.250Z", "status": 500, "latencyMs": 120,
              "nextAttemptAt": "2026-01-07T12:00:05.250Z" },
            { "attempt": 2, "attemptedAt": "2026-01-07T12:00:05.250Z", "status": 204, "latencyMs": 35,
              "nextAttemptAt": null },
        ]),
        "each attempt's time, status, latency, number and the retry it scheduled"
    );

    // Unknown, malformed or another merchant's endpoint: not found; a bad page query: named.
    let other = NewMerchant::generate("other_merchant", "Other", h.app.now());
    h.app.store.create_merchant(&other.merchant).await.unwrap();
    let other_keys = (other.vault_key.as_str(), other.merchant_key.as_str());
    for (endpoint, keys) in [("we_01KBQ7W3J1Y6Y7Q5Y3X9Z0AB12", OWN_KEYS), ("nope", OWN_KEYS), (id.as_str(), other_keys)]
    {
        for (kind, request) in [
            (Endpoint::GetWebhookEndpoint, webhook_endpoints_event("GET", Some(endpoint), Value::Null, keys)),
            (Endpoint::ListWebhookDeliveries, deliveries_event(endpoint, "", keys)),
        ] {
            let (status, response) = h.call(kind, request).await;
            assert_eq!(
                (status, body_json(&response)["code"].as_str()),
                (StatusCode::NOT_FOUND, Some("webhook_endpoint_not_found")),
                "{endpoint}"
            );
        }
    }
    let (status, refused) =
        h.call(Endpoint::ListWebhookDeliveries, deliveries_event(&id, "limit=0&after=%%%", OWN_KEYS)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body_text(&refused).contains("limit: ") && body_text(&refused).contains("after: "),
        "{}",
        body_text(&refused)
    );
}

#[tokio::test]
async fn a_stripe_deployment_refuses_amounts_stripe_cannot_charge_when_the_link_is_created() {
    let mut h = harness().await;
    let create = |currency: &'static str, amount: &'static str| {
        create_event(move |b| {
            b["currency"] = json!(currency);
            b["amount"] = json!(amount);
        })
    };
    // The sandbox charges any ISO amount.
    assert_eq!(h.call(Endpoint::CreateLink, create("KWD", "1.234")).await.0, StatusCode::CREATED);
    h.app.config.card_entry = CardEntry::StripeJs(crate::test_support::test_stripe_js("https://api.stripe.com"));
    for (currency, amount, why) in [
        ("KWD", "1.234", "amount: Stripe charges KWD only in amounts whose last decimal is 0"),
        ("MGA", "10.50", "amount: Stripe charges MGA in whole units only"),
        ("USD", "0.49", "amount: Stripe's smallest charge in USD is 0.50"),
        ("JPY", "49", "amount: Stripe's smallest charge in JPY is 50"),
    ] {
        let (status, response) = h.call(Endpoint::CreateLink, create(currency, amount)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{currency} {amount}");
        assert_eq!(body_json(&response)["details"], json!([why]));
    }
    for (currency, amount) in [("KWD", "1.230"), ("MGA", "10.00"), ("ISK", "500"), ("USD", "50.00"), ("USD", "0.50")] {
        assert_eq!(
            h.call(Endpoint::CreateLink, create(currency, amount)).await.0,
            StatusCode::CREATED,
            "{currency} {amount}"
        );
    }
}
