//! The whole flow over HTTP against the real `paylinks serve`: create the seed's three
//! examples, check them, open them, and find them again after a restart.

use paylinks_tests::{MERCHANT_ID, MERCHANT_KEY, Server, TempDir, VAULT_KEY, client, seed_examples, seed_itemised};
use serde_json::{Value, json};

async fn create(server: &Server, body: &Value) -> Value {
    let response = client()
        .post(format!("{}/api/payment-links/create", server.base))
        .header("X-API-KEY", VAULT_KEY)
        .header("X-OZURA-API-KEY", MERCHANT_KEY)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn availability(server: &Server, id: &str) -> (u16, Value) {
    let response =
        client().get(format!("{}/api/payment-links/{id}/check-availability", server.base)).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn seed_examples_create_check_open_and_survive_a_restart() {
    let data = TempDir::new("paylinks-flow");
    let mut server = Server::start(&data.0);
    let mut links = Vec::new();
    for (body, days) in seed_examples(MERCHANT_ID) {
        let before = chrono::Utc::now();
        let created = create(&server, &body).await;
        assert_eq!(created["success"], json!(true));
        let id = created["data"]["paymentLinkId"].as_str().unwrap().to_owned();
        assert!(id.starts_with("pl_"));
        assert_eq!(created["data"]["url"], json!(format!("{}/pay/{id}", server.base)));
        let expires_at = created["data"]["expiresAt"].as_str().unwrap();
        assert!(expires_at.ends_with('Z') && expires_at.len() == "2025-01-14T00:00:00.000Z".len(), "{expires_at}");
        let expires_at: chrono::DateTime<chrono::Utc> = expires_at.parse().unwrap();
        let expected = before + chrono::TimeDelta::days(days);
        assert!((expires_at - expected).num_seconds().abs() < 60, "{expires_at} vs {expected}");

        let (status, body) = availability(&server, &id).await;
        assert_eq!(status, 200);
        assert_eq!(body, json!({"success": true, "available": true, "message": "Payment link is available"}));

        let opened = client().get(format!("{}/pay/{id}", server.base)).send().await.unwrap();
        assert_eq!(opened.status(), 303);
        let location = opened.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(&format!("{}/checkout/cs_", server.base)), "{location}");
        let page = client().get(&location).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        links.push(id);
    }

    server.restart();
    for id in &links {
        let (status, body) = availability(&server, id).await;
        assert_eq!((status, body["available"].clone()), (200, json!(true)), "{id} after restart");
    }
    let (status, _) = availability(&server, "pl_01ARZ3NDEKTSV4RRFFQ69G5FAV").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_seed_examples_reject_a_tampered_request_with_every_field_named() {
    let data = TempDir::new("paylinks-flow-invalid");
    let server = Server::start(&data.0);
    let mut body = seed_itemised(MERCHANT_ID);
    body["items"][0]["price"] = json!(0);
    body["items"][0]["quantity"] = json!(1.5);
    body["cancelUrl"] = json!("/relative");
    let response = client()
        .post(format!("{}/api/payment-links/create", server.base))
        .header("X-API-KEY", VAULT_KEY)
        .header("X-OZURA-API-KEY", MERCHANT_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    let details = body["details"].as_array().unwrap();
    for field in ["items[0].price: ", "items[0].quantity: ", "cancelUrl: "] {
        assert!(details.iter().any(|d| d.as_str().unwrap().starts_with(field)), "{field} not in {details:?}");
    }
}

#[tokio::test]
async fn unavailable_and_unknown_links_get_html_pages() {
    let data = TempDir::new("paylinks-flow-pages");
    let server = Server::start(&data.0);
    let response = client().get(format!("{}/pay/pl_01ARZ3NDEKTSV4RRFFQ69G5FAV", server.base)).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(response.text().await.unwrap().contains("Payment link not found"));
}
