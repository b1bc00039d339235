//! Merchant webhooks against the real `paylinks serve`: a receiver that verifies every delivery
//! with the independent `standardwebhooks` library (PyPI) gets each payment, signed, retried
//! with the same `webhook-id` after a failure, even across a `kill -9` of the server.

use std::time::Duration;

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

    // The server dies (SIGKILL) before the retry is due: the outbox is in its store.
    server.restart();
    let both = receiver.wait_for(2, Duration::from_secs(30));
    assert_eq!((&both[1]["verified"], &both[1]["answered"]), (&json!(true), &json!(200)), "{both:#?}");
    assert_eq!(both[1]["webhookId"], both[0]["webhookId"], "the same webhook-id on the retry");
    assert_eq!(both[1]["event"], both[0]["event"]);
    // Delivered: no third attempt.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.deliveries().len(), 2);

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
