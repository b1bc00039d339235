//! The whole flow over HTTP against the real `paylinks serve`: create the seed's three
//! examples, check them, open them, and find them again after a restart.

use paylinks_core::checkout::guard::WINDOW;
use paylinks_tests::{
    MERCHANT_ID, Server, TempDir, client, merchant_request, next_year_expiry, open_checkout, seed_examples,
    seed_fixed_amount, seed_itemised,
};
use serde_json::{Value, json};

async fn create(server: &Server, body: &Value) -> Value {
    let response = merchant_request(reqwest::Method::POST, &format!("{}/api/payment-links/create", server.base))
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
    let response = merchant_request(reqwest::Method::POST, &format!("{}/api/payment-links/create", server.base))
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

/// The card-testing window the server's clock is in now: declines are counted in fixed windows
/// of [`WINDOW`] from the epoch, on the server's clock (this machine's).
fn decline_window_now() -> i64 {
    chrono::Utc::now().timestamp().div_euclid(WINDOW.num_seconds())
}

/// A card tester's script: fifty declined cards posted to `link`, each from its own address
/// (`203.0.113.{first_host + n}`). The status of each try: 303 for a decline (back to the page,
/// saying so), 429 for a pay refused before the processor, or the status the open was answered
/// with.
async fn fifty_bad_cards(server: &Server, link: &str, first_host: usize) -> Vec<u16> {
    let expiry = next_year_expiry();
    let mut statuses = Vec::new();
    for n in 0..50 {
        let (page_url, token) = match open_checkout(&server.base, link).await {
            Ok(checkout) => checkout,
            Err(status) => {
                statuses.push(status); // paused: the link no longer opens
                continue;
            }
        };
        let form = [
            ("formToken", token.as_str()),
            ("cardNumber", "4000000000000002"),
            ("expiry", expiry.as_str()),
            ("cvc", "123"),
            ("cardholderName", "Tester"),
        ];
        let response = client()
            .post(format!("{page_url}/pay"))
            .header("X-Forwarded-For", format!("203.0.113.{}", first_host + n))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        if status == 429 {
            let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=600).contains(&retry_after), "Retry-After {retry_after}");
            assert!(response.text().await.unwrap().contains("Too many attempts"));
        }
        statuses.push(status);
    }
    statuses
}

#[tokio::test]
async fn a_script_sending_fifty_bad_cards_to_one_link_is_refused_after_ten_and_pauses_it() {
    let data = TempDir::new("paylinks-flow-card-testing");
    // The tester rotates IPs (behind a proxy we trust): only the link's own count can stop it.
    let server = Server::start_with_env(&data.0, &[("PAYLINKS_TRUST_FORWARDED_FOR", "1")]);
    let mut body = seed_fixed_amount(MERCHANT_ID);
    body["usageLimit"] = Value::Null;
    // The counts live in fixed windows: a run that crossed a window boundary split them (the
    // declines after it start again from zero), so it proves nothing and is run again, on a
    // fresh link from other addresses. The second run starts after that boundary and cannot
    // reach the next one, a whole window later: whatever the time, one run stays in one window.
    let mut runs = 0;
    let (link, statuses) = loop {
        let link = create(&server, &body).await["data"]["paymentLinkId"].as_str().unwrap().to_owned();
        let window = decline_window_now();
        let statuses = fifty_bad_cards(&server, &link, 100 * runs).await;
        runs += 1;
        if decline_window_now() == window {
            break (link, statuses);
        }
        let minutes = WINDOW.num_minutes();
        assert!(runs < 2, "two runs of fifty pays each crossed a window boundary: each took over {minutes} minutes");
    };
    assert_eq!(statuses[..10], [303; 10], "the first ten are declined, back to the page: {statuses:?}");
    // Ten clients' cards declined on one link: it is paused at once (410 on open); a pay on a
    // page opened before would be refused before the processor (429).
    assert!(statuses[10..].iter().all(|s| *s == 410 || *s == 429), "then refused: {statuses:?}");
    assert!(statuses.ends_with(&[410]), "paused by the end: {statuses:?}");

    let view: Value = merchant_request(reqwest::Method::GET, &format!("{}/api/payment-links/{link}", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["data"]["status"], json!("inactive"), "{view}");
    let reason = view["data"]["pausedReason"].as_str().unwrap_or_default();
    assert!(reason.contains("card testing"), "the merchant sees why: {view}");
}
