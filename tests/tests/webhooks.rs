//! Merchant webhooks: a receiver that verifies every delivery with the independent
//! `standardwebhooks` library (PyPI) gets each payment, signed, retried with the same
//! `webhook-id` after a failure — against the real `paylinks serve`, even across a `kill -9` of
//! the server, and on both stores (DynamoDB on moto_server) with the clock moved by hand through
//! the whole retry schedule, a receiver that times out, and one that stays down until its
//! endpoint is disabled.

use std::time::Duration;

use chrono::TimeDelta;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use paylinks_core::api::{Endpoint, handle};
use paylinks_core::app::WebhookTargets;
use paylinks_core::model::{SessionId, WebhookEndpoint};
use paylinks_core::test_support::{TestApp, TestMerchant, create_event, merchant_event_with_body, pay_new_link};
use paylinks_core::webhooks::dispatch::on_wake_up;
use paylinks_core::webhooks::{Sender, deliver_due};
use paylinks_tests::{
    MERCHANT_ID, Server, TempDir, WebhookReceiver, merchant_request, next_year_expiry, open_checkout, seed_fixed_amount,
};
use serde_json::{Value, json};

async fn register(server: &Server, body: &Value) -> (u16, Value) {
    let response = merchant_request(reqwest::Method::POST, &format!("{}/api/webhook-endpoints", server.base))
        .json(body)
        .send()
        .await
        .expect("register");
    (response.status().as_u16(), response.json().await.expect("JSON"))
}

async fn pay_a_new_link(server: &Server) -> String {
    let response = merchant_request(reqwest::Method::POST, &format!("{}/api/payment-links/create", server.base))
        .json(&seed_fixed_amount(MERCHANT_ID))
        .send()
        .await
        .expect("create");
    let created: Value = response.json().await.expect("JSON");
    let link = created["data"]["paymentLinkId"].as_str().expect("id").to_owned();
    let (page, form_token) = open_checkout(&server.base, &link).await.expect("open");
    let expiry = next_year_expiry();
    let form = [
        ("formToken", form_token.as_str()),
        ("cardNumber", "4242424242424242"),
        ("expiry", &expiry),
        ("cvc", "123"),
        ("cardholderName", "Ada Lovelace"),
    ];
    let paid = paylinks_tests::client().post(format!("{page}/pay")).form(&form).send().await.expect("pay");
    assert_eq!(paid.status(), 303);
    page.rsplit('/').next().expect("session id").to_owned()
}

#[tokio::test]
async fn a_payment_is_pushed_signed_and_retried_with_the_same_id_even_across_a_kill() {
    let data = TempDir::new("paylinks-webhooks");
    let mut server = Server::start(&data.0);
    let receiver = WebhookReceiver::start("500,200");
    // Payments only (the seed's link is for one use, so it also reports the limit reached).
    let body = json!({ "url": receiver.url, "description": "orders", "events": ["checkout.session.completed"] });
    let (status, created) = register(&server, &body).await;
    assert_eq!(status, 201, "{created}");
    let secret = created["data"]["secret"].as_str().expect("the secret, shown once");
    assert!(secret.starts_with("whsec_") && created["data"]["id"].as_str().unwrap().starts_with("we_"));
    receiver.use_secret(secret);

    let session = pay_a_new_link(&server).await;
    let first = receiver.wait_for(1, Duration::from_secs(10));
    assert_eq!(first[0]["verified"], true, "standardwebhooks verifies it: {first:#?}");
    assert_eq!(first[0]["answered"], 500);
    let event = &first[0]["event"];
    assert_eq!((&event["type"], &event["data"]["sessionId"]), (&json!("checkout.session.completed"), &json!(session)));
    assert_eq!(event["data"]["cardLastFour"], "4242");
    assert_eq!(first[0]["webhookId"], event["id"], "webhook-id is the event id");

    // The server dies (SIGKILL) before the retry is due, once it has stored the first attempt
    // (a kill between sending and storing it would lose that line of the log, not the retry):
    // the outbox is in its store.
    let endpoint = created["data"]["id"].as_str().unwrap();
    let log_url = format!("{}/api/webhook-endpoints/{endpoint}/deliveries", server.base);
    let attempts_logged = async || -> Vec<Value> {
        let log: Value = merchant_request(reqwest::Method::GET, &log_url).send().await.unwrap().json().await.unwrap();
        log["data"][0]["attempts"].as_array().cloned().unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while attempts_logged().await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "the first attempt is never logged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.restart();
    let both = receiver.wait_for(2, Duration::from_secs(30));
    assert_eq!((&both[1]["verified"], &both[1]["answered"]), (&json!(true), &json!(200)), "{both:#?}");
    assert_eq!(both[1]["webhookId"], both[0]["webhookId"], "the same webhook-id on the retry");
    assert_eq!(both[1]["event"], both[0]["event"]);
    // Delivered: no third attempt.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.deliveries().len(), 2);
    // The merchant's delivery log shows both attempts.
    let log: Value = merchant_request(reqwest::Method::GET, &log_url).send().await.unwrap().json().await.unwrap();
    let attempts = log["data"][0]["attempts"].as_array().unwrap_or_else(|| panic!("{log:#}"));
    let statuses: Vec<&Value> = attempts.iter().map(|attempt| &attempt["status"]).collect();
    assert_eq!(statuses, [&json!(500), &json!(200)], "{log:#}");

    // Until the merchant asks for it again (a receiver that lost it): the same webhook-id.
    let event_id = both[0]["webhookId"].as_str().unwrap();
    let redeliver = format!("{}/api/events/{event_id}/redeliver", server.base);
    let response = merchant_request(reqwest::Method::POST, &redeliver).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let again = receiver.wait_for(3, Duration::from_secs(10));
    assert_eq!((&again[2]["webhookId"], &again[2]["verified"]), (&json!(event_id), &json!(true)), "{again:#?}");
    let unknown = format!("{}/api/events/evt_01KBQ7W3J1Y6Y7Q5Y3X9Z0AB12/redeliver", server.base);
    assert_eq!(merchant_request(reqwest::Method::POST, &unknown).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn endpoints_are_listed_without_their_secret_removed_and_checked() {
    let data = TempDir::new("paylinks-webhooks");
    let server = Server::start(&data.0);
    let receiver = WebhookReceiver::start("200");
    let body = json!({ "url": receiver.url, "events": ["checkout.session.refunded"] });
    let (status, created) = register(&server, &body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let endpoints = format!("{}/api/webhook-endpoints", server.base);
    let listed: Value = merchant_request(reqwest::Method::GET, &endpoints).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["data"][0]["id"], json!(id), "{listed}");
    assert_eq!(listed["data"][0]["events"], json!(["checkout.session.refunded"]));
    assert!(!listed.to_string().contains("whsec_"), "the secret is shown once only: {listed}");

    // A payment is not what this endpoint asked for: nothing is sent.
    pay_a_new_link(&server).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.deliveries().len(), 0);

    for (body, field) in [
        (json!({ "url": "ftp://shop.example/hooks" }), "url:"),
        (json!({ "url": receiver.url, "events": ["payment.done"] }), "events[0]:"),
        (json!({ "events": [] }), "url:"),
    ] {
        let (status, refused) = register(&server, &body).await;
        assert_eq!(status, 400, "{body}");
        assert!(refused.to_string().contains(field), "{field}: {refused}");
    }
    let delete = |id: &str| merchant_request(reqwest::Method::DELETE, &format!("{endpoints}/{id}")).send();
    assert_eq!(delete(&id).await.unwrap().status(), 200);
    assert_eq!(delete(&id).await.unwrap().status(), 404);
    let listed: Value = merchant_request(reqwest::Method::GET, &endpoints).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["data"], json!([]));
}

#[tokio::test]
async fn after_a_rotation_both_secrets_sign_so_the_receiver_can_switch_without_a_gap() {
    let data = TempDir::new("paylinks-webhooks");
    let server = Server::start(&data.0);
    let receiver = WebhookReceiver::start("200");
    let body = json!({ "url": receiver.url, "events": ["checkout.session.completed"] });
    let (_, created) = register(&server, &body).await;
    let (id, old_secret) = (created["data"]["id"].as_str().unwrap(), created["data"]["secret"].as_str().unwrap());
    let rotate = format!("{}/api/webhook-endpoints/{id}/rotate-secret", server.base);
    let rotated: Value = merchant_request(reqwest::Method::POST, &rotate).send().await.unwrap().json().await.unwrap();
    let new_secret = rotated["data"]["secret"].as_str().expect("the new secret");
    assert_ne!(new_secret, old_secret);

    // The receiver still has the old secret: verified. Then it switches: verified too.
    receiver.use_secret(old_secret);
    pay_a_new_link(&server).await;
    let first = receiver.wait_for(1, Duration::from_secs(10));
    assert_eq!(first[0]["verified"], true, "the old secret still signs: {first:#?}");
    receiver.use_secret(new_secret);
    pay_a_new_link(&server).await;
    let both = receiver.wait_for(2, Duration::from_secs(10));
    assert_eq!(both[1]["verified"], true, "the new secret signs: {both:#?}");
}

const SHOP: TestMerchant =
    TestMerchant { id: "hooks_shop", name: "Hooks Shop", vault_key: "vk_hooks", merchant_key: "mk_hooks" };

fn body_json(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).expect("a JSON body")
}

/// A request to the merchant API of [`SHOP`] on `path` (API Gateway's `route`).
fn shop_request(method: &str, route: &str, path: &str, id: Option<&str>, body: Value) -> Request {
    let params = id.map_or(Value::Null, |id| json!({ "id": id }));
    merchant_event_with_body(
        method,
        &format!("{method} {route}"),
        path,
        params,
        "",
        body,
        (SHOP.vault_key, SHOP.merchant_key),
    )
}

/// Creates the seed's link (one use) and pays it with the test card, through the handlers as
/// Lambda calls them; returns the session.
async fn pay_through_the_handlers(shop: &TestApp) -> SessionId {
    pay_new_link(&shop.app, create_event(&SHOP, |_| {})).await
}

/// Registers an endpoint of `shop` for payments at `receiver`, which gets its secret; returns
/// the endpoint's id.
async fn register_in_process(shop: &TestApp, receiver: &WebhookReceiver) -> String {
    let body = json!({ "url": receiver.url, "events": ["checkout.session.completed"] });
    let request = shop_request("POST", "/api/webhook-endpoints", "/api/webhook-endpoints", None, body);
    let created = handle(Endpoint::CreateWebhookEndpoint, request, &shop.app).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created = body_json(&created)["data"].clone();
    receiver.use_secret(created["secret"].as_str().expect("the secret"));
    created["id"].as_str().expect("an endpoint id").to_owned()
}

/// The endpoint's delivery log as the merchant reads it (`data`: newest event first, each with
/// its attempts).
async fn delivery_log(shop: &TestApp, endpoint: &str) -> Value {
    let path = format!("/api/webhook-endpoints/{endpoint}/deliveries");
    let request = shop_request("GET", "/api/webhook-endpoints/{id}/deliveries", &path, Some(endpoint), Value::Null);
    let response = handle(Endpoint::ListWebhookDeliveries, request, &shop.app).await;
    assert_eq!(response.status(), StatusCode::OK);
    body_json(&response)["data"].clone()
}

/// On `shop`'s store: a payment is pushed; the receiver answers 500, then holds its answer past
/// the 15 s timeout, then 200 — three attempts on the schedule (now, ~5 s, ~5 min later: the
/// clock moved by hand), one `webhook-id`, every one verified by `standardwebhooks`. Then the
/// receiver goes away for good: after five days of failures its endpoint is disabled, and says why.
async fn a_payment_is_delivered_through_the_retry_schedule_until_the_endpoint_is_disabled(mut shop: TestApp) {
    shop.app.config.webhook_targets = WebhookTargets::Anywhere; // the receiver is on loopback
    let receiver = WebhookReceiver::start("500,timeout,200");
    let endpoint = register_in_process(&shop, &receiver).await;
    let store = shop.app.store.as_ref();
    let sender = Sender::new(WebhookTargets::Anywhere).expect("the sender");

    let session = pay_through_the_handlers(&shop).await;
    assert_eq!(deliver_due(store, &sender, shop.app.now()).await.expect("a round"), 1);
    assert_eq!(receiver.wait_for(1, Duration::from_secs(5))[0]["answered"], 500);
    // The retry is due about 5 s later (up to a tenth more): not a moment before 5 s.
    shop.advance(TimeDelta::milliseconds(4_900));
    assert_eq!(deliver_due(store, &sender, shop.app.now()).await.expect("a round"), 0, "not due yet");
    shop.advance(TimeDelta::milliseconds(700));
    let started = std::time::Instant::now();
    assert_eq!(deliver_due(store, &sender, shop.app.now()).await.expect("a round"), 1);
    assert!(started.elapsed() >= Duration::from_secs(14), "the sender waited for its 15 s timeout");
    assert_eq!(receiver.wait_for(2, Duration::from_secs(5))[1]["answered"], "timeout");
    shop.advance(TimeDelta::minutes(4));
    assert_eq!(deliver_due(store, &sender, shop.app.now()).await.expect("a round"), 0, "the next is ~5 min later");
    shop.advance(TimeDelta::minutes(2));
    assert_eq!(deliver_due(store, &sender, shop.app.now()).await.expect("a round"), 1);

    let deliveries = receiver.wait_for(3, Duration::from_secs(5));
    for delivery in &deliveries {
        assert_eq!(delivery["verified"], true, "standardwebhooks verifies every attempt: {deliveries:#?}");
        assert_eq!(delivery["webhookId"], deliveries[0]["webhookId"], "one webhook-id for every attempt");
        assert_eq!(delivery["event"]["data"]["sessionId"], json!(session));
    }
    assert_eq!(deliveries[2]["answered"], 200);
    shop.advance(TimeDelta::days(1));
    assert_eq!(deliver_due(store, &sender, shop.app.now()).await.expect("a round"), 0, "delivered: done");
    let log = delivery_log(&shop, &endpoint).await;
    let attempts = &log[0]["attempts"];
    let statuses: Vec<&Value> = attempts.as_array().expect("attempts").iter().map(|a| &a["status"]).collect();
    assert_eq!(statuses, [&json!(500), &Value::Null, &json!(200)], "the log: {log:#}");
    assert!(attempts[1]["latencyMs"].as_u64().expect("a latency") >= 14_000, "{log:#}");
    assert_eq!((&log[0]["delivered"], &attempts[2]["nextAttemptAt"]), (&json!(true), &Value::Null));

    // The receiver goes away. A payment a day: each delivery fails; the fifth day disables it.
    drop(receiver);
    for _ in 0..=5 {
        pay_through_the_handlers(&shop).await;
        deliver_due(store, &sender, shop.app.now()).await.expect("a round");
        shop.advance(TimeDelta::days(1));
    }
    let path = format!("/api/webhook-endpoints/{endpoint}");
    let request = shop_request("GET", "/api/webhook-endpoints/{id}", &path, Some(&endpoint), Value::Null);
    let shown = body_json(&handle(Endpoint::GetWebhookEndpoint, request, &shop.app).await)["data"].clone();
    let reason = shown["disabledReason"].as_str().unwrap_or_else(|| panic!("disabled: {shown:#}"));
    assert!(reason.contains("every delivery failed for 5 days") && reason.contains("no answer"), "{reason}");
    let stored: Vec<WebhookEndpoint> = store.webhook_endpoints(SHOP.id).await.expect("the endpoints");
    assert!(stored[0].failing_since.is_some());
    pay_through_the_handlers(&shop).await;
    assert_eq!(
        deliver_due(store, &sender, shop.app.now()).await.expect("a round"),
        0,
        "a disabled endpoint gets nothing"
    );
}

fn start() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

#[tokio::test]
async fn through_the_retry_schedule_to_a_disabled_endpoint_on_the_embedded_store() {
    a_payment_is_delivered_through_the_retry_schedule_until_the_endpoint_is_disabled(
        TestApp::embedded(SHOP, start()).await,
    )
    .await;
}

#[tokio::test]
async fn through_the_retry_schedule_to_a_disabled_endpoint_on_dynamodb() {
    a_payment_is_delivered_through_the_retry_schedule_until_the_endpoint_is_disabled(
        TestApp::dynamodb(SHOP, start()).await,
    )
    .await;
}

/// The deliver-webhooks function's work on DynamoDB: woken by a stream batch of two new events,
/// one of its two endpoints failing. The batch does not fail (no record to retry: the outbox
/// holds the failed deliveries), the healthy endpoint gets both events once, and the failing one
/// gets them again when the schedule wakes the function after their retry is due.
#[tokio::test]
async fn a_stream_batch_with_one_failing_endpoint_succeeds_and_the_schedule_retries_only_that_one() {
    let mut shop = TestApp::dynamodb(SHOP, start()).await;
    shop.app.config.webhook_targets = WebhookTargets::Anywhere;
    let (healthy, failing) = (WebhookReceiver::start("200"), WebhookReceiver::start("500"));
    for receiver in [&healthy, &failing] {
        register_in_process(&shop, receiver).await;
    }
    let store = shop.app.store.as_ref();
    let sender = Sender::new(WebhookTargets::Anywhere).expect("the sender");
    pay_through_the_handlers(&shop).await;
    pay_through_the_handlers(&shop).await;

    let answer = on_wake_up(store, &sender, || shop.app.now()).await.expect("the stream batch");
    assert_eq!(answer, json!({ "batchItemFailures": [] }));
    assert_eq!(healthy.wait_for(2, Duration::from_secs(5)).len(), 2);
    assert_eq!(failing.wait_for(2, Duration::from_secs(5)).len(), 2);
    assert_eq!(store.due_events(shop.app.now(), 10).await.expect("due").len(), 0, "nothing due before the retry");

    shop.advance(TimeDelta::seconds(6));
    assert_eq!(store.due_events(shop.app.now(), 10).await.expect("due").len(), 2, "both due for the failing one");
    on_wake_up(store, &sender, || shop.app.now()).await.expect("the schedule");
    let again = failing.wait_for(4, Duration::from_secs(5));
    let ids = |deliveries: &[Value]| {
        let mut ids: Vec<String> = deliveries.iter().map(|d| d["webhookId"].as_str().unwrap().to_owned()).collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(ids(&again[2..]), ids(&again[..2]), "the retries carry the first attempts' webhook-ids");
    assert!(again.iter().all(|delivery| delivery["verified"] == true), "{again:#?}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(healthy.deliveries().len(), 2, "the endpoint that took them is not sent them again");
}
