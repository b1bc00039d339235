//! What an attacker tried (issue "abuse resistance, round two"), against the real
//! `paylinks serve` over HTTP: each test failed before its fix.

use std::os::unix::fs::PermissionsExt;

use paylinks_tests::{
    MERCHANT_ID, Server, TempDir, client, merchant_request, next_year_expiry, paylinks_bin, seed_donation,
    seed_fixed_amount,
};
use serde_json::{Value, json};

const DECLINED: &str = "4000000000000002";
const SUCCESS: &str = "4242424242424242";

async fn create(server: &Server, body: &Value) -> reqwest::Response {
    merchant_request(reqwest::Method::POST, &format!("{}/api/payment-links/create", server.base))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn create_link(server: &Server, body: &Value) -> String {
    let response = create(server, body).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    created["data"]["paymentLinkId"].as_str().unwrap().to_owned()
}

async fn unlimited_link(server: &Server) -> String {
    let mut body = seed_fixed_amount(MERCHANT_ID);
    body["usageLimit"] = Value::Null;
    create_link(server, &body).await
}

async fn link_view(server: &Server, id: &str) -> Value {
    let response = merchant_request(reqwest::Method::GET, &format!("{}/api/payment-links/{id}", server.base))
        .send()
        .await
        .unwrap();
    let view: Value = response.json().await.unwrap();
    view["data"].clone()
}

/// A server behind one proxy it trusts (`X-Forwarded-For` names the client), with an unlimited
/// link; keep the directory alive as long as the server.
async fn behind_a_trusted_proxy(name: &str) -> (TempDir, Server, String) {
    let data = TempDir::new(name);
    let server = Server::start_with_env(&data.0, &[("PAYLINKS_TRUST_FORWARDED_FOR", "1")]);
    let link = unlimited_link(&server).await;
    (data, server, link)
}

/// Opens the link: the checkout page's URL and its form token.
async fn open_checkout(server: &Server, link: &str) -> (String, String) {
    paylinks_tests::open_checkout(&server.base, link).await.unwrap_or_else(|status| panic!("{link} opens: {status}"))
}

/// Posts the pay form (with `forwarded_for` as `X-Forwarded-For`, when given).
async fn pay(page_url: &str, form: &[(&str, String)], forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = client().post(format!("{page_url}/pay")).form(form);
    if let Some(address) = forwarded_for {
        request = request.header("X-Forwarded-For", address);
    }
    request.send().await.unwrap()
}

/// The pay form with the page's form token and `card`, valid for a year.
fn card_form(token: &str, card: &str) -> Vec<(&'static str, String)> {
    vec![
        ("formToken", token.to_owned()),
        ("cardNumber", card.to_owned()),
        ("expiry", next_year_expiry()),
        ("cvc", "123".to_owned()),
        ("cardholderName", "Ada Customer".to_owned()),
    ]
}

async fn pay_card(server: &Server, link: &str, card: &str, forwarded_for: Option<&str>) -> u16 {
    let (page_url, token) = open_checkout(server, link).await;
    pay(&page_url, &card_form(&token, card), forwarded_for).await.status().as_u16()
}

#[tokio::test]
async fn posts_refused_before_the_processor_never_block_or_pause_a_link() {
    let (_data, server, link) = behind_a_trusted_proxy("paylinks-security-junk").await;
    // Fifty junk numbers from rotating addresses: each refused inline, none reaches the processor.
    for n in 0..50 {
        let status = pay_card(&server, &link, "1", Some(&format!("203.0.113.{n}"))).await;
        assert_eq!(status, 422, "junk post {n}");
    }
    assert_eq!(link_view(&server, &link).await["status"], json!("active"));
    assert_eq!(pay_card(&server, &link, SUCCESS, Some("198.51.100.77")).await, 303, "a customer still pays");
}

#[tokio::test]
async fn one_client_with_declined_cards_blocks_only_itself() {
    let (_data, server, link) = behind_a_trusted_proxy("paylinks-security-one-client").await;
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(pay_card(&server, &link, DECLINED, Some("192.0.2.9")).await);
    }
    assert_eq!(statuses[..10], [303; 10], "declined, back to the page: {statuses:?}");
    assert!(statuses[10..].iter().all(|s| *s == 429), "then that client is refused: {statuses:?}");
    let view = link_view(&server, &link).await;
    assert_eq!((view["status"].clone(), view["pausedReason"].clone()), (json!("active"), Value::Null));
    assert_eq!(pay_card(&server, &link, SUCCESS, Some("192.0.2.10")).await, 303, "other customers pay");
}

#[tokio::test]
async fn the_client_address_is_the_trusted_proxys_entry_not_what_the_client_wrote() {
    let (_data, server, link) = behind_a_trusted_proxy("paylinks-security-forwarded").await;
    // The proxy appends the address it saw (203.0.113.5); the client writes what it likes before it.
    for n in 0..10 {
        let forwarded = format!("198.51.100.{n}, 203.0.113.5");
        assert_eq!(pay_card(&server, &link, DECLINED, Some(&forwarded)).await, 303);
    }
    let evading = pay_card(&server, &link, DECLINED, Some("198.51.100.200, 203.0.113.5")).await;
    assert_eq!(evading, 429, "a new left-hand entry is the same client");
    // An IPv6 client is one client across its /64.
    for n in 0..10 {
        let forwarded = format!("2001:db8:1:2::{n:x}");
        assert_eq!(pay_card(&server, &link, DECLINED, Some(&forwarded)).await, 303);
    }
    assert_eq!(pay_card(&server, &link, DECLINED, Some("2001:db8:1:2:ffff::1")).await, 429);
    // Junk is no address: it is not a new client for every value (it falls back to the peer).
    let junk = "x".repeat(3000);
    assert_eq!(pay_card(&server, &link, SUCCESS, Some(&junk)).await, 303);
}

#[tokio::test]
async fn a_paid_checkout_posted_without_its_form_token_shows_already_paid_not_its_details() {
    let data = TempDir::new("paylinks-security-paid");
    let server = Server::start(&data.0);
    let link = unlimited_link(&server).await;
    let (page_url, token) = open_checkout(&server, &link).await;
    let form = card_form(&token, SUCCESS);
    assert_eq!(pay(&page_url, &form, None).await.status(), 303);
    // Someone who knows only the session id.
    let response = pay(&page_url, &[("cardNumber", "1".to_owned())], None).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("location").is_none());
    let page = response.text().await.unwrap();
    assert!(page.contains("Already paid") && !page.contains("4242"), "{page}");
    // The customer's own double submit still gets the success redirect.
    let again = pay(&page_url, &form, None).await;
    assert_eq!(again.status(), 303);
    assert!(again.headers()["location"].to_str().unwrap().contains("success=true"));
}

#[tokio::test]
async fn every_page_a_customer_meets_has_one_main_heading() {
    let data = TempDir::new("paylinks-security-headings");
    let server = Server::start(&data.0);
    let link = unlimited_link(&server).await;
    let (page_url, _) = open_checkout(&server, &link).await;
    let checkout = client().get(&page_url).send().await.unwrap().text().await.unwrap();
    let unknown = client().get(format!("{}/pay/pl_01ARZ3NDEKTSV4RRFFQ69G5FAV", server.base)).send().await.unwrap();
    for page in [checkout, unknown.text().await.unwrap()] {
        assert_eq!(page.matches("<h1").count(), 1, "{page}");
    }
}

#[tokio::test]
async fn redirect_urls_are_stored_and_sent_as_the_url_that_was_checked() {
    let data = TempDir::new("paylinks-security-urls");
    let server = Server::start(&data.0);
    let mut body = seed_fixed_amount(MERCHANT_ID);
    body["cancelUrl"] = json!("https:evil.com");
    body["successUrl"] = json!("https://bücher.example/danke?für=ü");
    let link = create_link(&server, &body).await;
    let view = link_view(&server, &link).await;
    assert_eq!(view["cancelUrl"], json!("https://evil.com/"));
    assert_eq!(view["successUrl"], json!("https://xn--bcher-kva.example/danke?f%C3%BCr=%C3%BC"));
    let (page_url, _) = open_checkout(&server, &link).await;
    let cancelled = client().get(format!("{page_url}/cancel")).send().await.unwrap();
    assert_eq!(cancelled.status(), 303);
    assert_eq!(cancelled.headers()["location"], "https://evil.com/", "absolute, never resolved against us");
}

#[tokio::test]
async fn a_link_whose_redirect_would_outgrow_what_servers_accept_is_refused() {
    let data = TempDir::new("paylinks-security-long");
    let server = Server::start(&data.0);
    let mut body = seed_fixed_amount(MERCHANT_ID);
    // 40 values of 200 characters that percent-encoding triples: 8 KB of metadata, 24 KB redirected.
    let metadata: serde_json::Map<String, Value> = (0..40).map(|n| (format!("k{n}"), json!("é".repeat(100)))).collect();
    body["metadata"] = Value::Object(metadata);
    let response = create(&server, &body).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    let details = error["details"].to_string();
    assert!(details.contains("successUrl: with the payment's details and the metadata added"), "{error}");
}

#[tokio::test]
async fn merchant_ids_that_could_make_store_keys_collide_are_refused() {
    let data = TempDir::new("paylinks-security-ids");
    let server = Server::start(&data.0);
    let mut body = seed_fixed_amount(MERCHANT_ID);
    body["merchantId"] = json!("shop#1");
    let response = create(&server, &body).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(error["details"].to_string().contains("merchantId: must be 1 to 64 letters, digits"), "{error}");

    let output = std::process::Command::new(paylinks_bin())
        .args(["merchant", "create", "--id", "shop#1", "--name", "Shop"])
        .env("PAYLINKS_DATA", &data.0)
        .env_remove("PAYLINKS_STORE")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("must be 1 to 64 letters"), "{output:?}");
}

#[tokio::test]
async fn exponent_amounts_invisible_names_and_cent_donations_are_refused() {
    let data = TempDir::new("paylinks-security-fields");
    let server = Server::start(&data.0);
    let mut body = seed_fixed_amount(MERCHANT_ID);
    body["amount"] = json!("1e3");
    body["merchantName"] = json!("My\u{202E}erotS");
    let response = create(&server, &body).await;
    assert_eq!(response.status(), 400);
    let details = response.json::<Value>().await.unwrap()["details"].to_string();
    assert!(details.contains("amount: must be a decimal number"), "{details}");
    assert!(details.contains("merchantName: must not contain invisible"), "{details}");

    // A custom donation without a minimum: one whole unit, not a card-testing cent.
    let mut donation = seed_donation(MERCHANT_ID);
    donation["donationConfig"]["allowCustomAmount"] = json!(true);
    donation["donationConfig"].as_object_mut().unwrap().remove("minAmount");
    let link = create_link(&server, &donation).await;
    let (page_url, token) = open_checkout(&server, &link).await;
    let mut form = card_form(&token, SUCCESS);
    form.push(("customAmount", "0.01".to_owned()));
    let response = pay(&page_url, &form, None).await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("The smallest amount you can give is 1.00"));
}

#[tokio::test]
async fn responses_ask_browsers_for_https_and_the_data_files_are_private() {
    let data = TempDir::new("paylinks-security-files");
    let server = Server::start(&data.0);
    let response =
        client().get(format!("{}/api/payment-links/pl_01ARZ3NDEKTSV4RRFFQ69G5FAV", server.base)).send().await;
    let response = response.unwrap();
    assert_eq!(response.headers()["strict-transport-security"], "max-age=63072000; includeSubDomains");
    let mode = |name: &str| std::fs::metadata(data.0.join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("paylinks.redb"), 0o600);
    drop(server);

    // Without fixed demo keys, serve generates them and keeps them in a file only we can read.
    let fresh = TempDir::new("paylinks-security-demo");
    let port = paylinks_tests::free_port();
    let mut child = std::process::Command::new(paylinks_bin())
        .arg("serve")
        .env("PAYLINKS_ADDR", format!("127.0.0.1:{port}"))
        .env("PAYLINKS_DATA", &fresh.0)
        .env_remove("PAYLINKS_DEMO_MERCHANT")
        .env_remove("PAYLINKS_STORE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let keys = fresh.0.join("demo-merchant.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !keys.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().ok();
    child.wait().ok();
    assert_eq!(std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777, 0o600);
}

#[tokio::test]
async fn one_client_cannot_fill_the_store_with_sessions() {
    let data = TempDir::new("paylinks-security-opens");
    let server =
        Server::start_with_env(&data.0, &[("PAYLINKS_TRUST_FORWARDED_FOR", "1"), ("PAYLINKS_OPEN_RATE_LIMIT", "5")]);
    let link = unlimited_link(&server).await;
    let open = |address: &'static str| {
        client().get(format!("{}/pay/{link}", server.base)).header("X-Forwarded-For", address).send()
    };
    for _ in 0..5 {
        assert_eq!(open("198.51.100.8").await.unwrap().status(), 303);
    }
    let refused = open("198.51.100.8").await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(refused.text().await.unwrap().contains("Too many requests"));
    assert_eq!(open("198.51.100.9").await.unwrap().status(), 303, "other customers open it");

    // What DynamoDB's TTL sweeps, serve sweeps from its embedded store: at start, then hourly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read_to_string(server.log_path()).unwrap_or_default().contains("embedded store swept") {
        assert!(std::time::Instant::now() < deadline, "no sweep logged");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[tokio::test]
async fn message_pages_of_a_merchants_checkout_wear_its_appearance() {
    let data = TempDir::new("paylinks-security-branded");
    let server = Server::start(&data.0);
    let mut body = seed_fixed_amount(MERCHANT_ID);
    body["usageLimit"] = Value::Null;
    body["appearance"] = json!({ "primaryColor": "#0f766e", "logoUrl": "https://cdn.mystore.com/logo.png" });
    let link = create_link(&server, &body).await;
    // Paid, then opened again: "already paid", in the merchant's colours, with its logo.
    let (page_url, token) = open_checkout(&server, &link).await;
    let form = card_form(&token, SUCCESS);
    assert_eq!(pay(&page_url, &form, None).await.status(), 303);
    let paid = client().get(&page_url).send().await.unwrap();
    let csp = paid.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let page = paid.text().await.unwrap();
    assert!(page.contains("Already paid") && page.contains("--primary:#0f766e"), "{page}");
    assert!(page.contains(r#"<img class="logo" src="https://cdn.mystore.com/logo.png""#), "{page}");
    assert!(csp.contains("style-src 'self' 'sha256-") && csp.contains("img-src 'self' https:"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    // Switched off: the page saying so is the merchant's too.
    let url = format!("{}/api/payment-links/{link}/deactivate", server.base);
    assert_eq!(merchant_request(reqwest::Method::POST, &url).send().await.unwrap().status(), 200);
    let gone = client().get(format!("{}/pay/{link}", server.base)).send().await.unwrap();
    assert_eq!(gone.status(), 410);
    assert!(gone.text().await.unwrap().contains("--primary:#0f766e"));
}

/// A request whose body stops short of its Content-Length (the client went away mid-upload)
/// is refused, never handled on the part that arrived: a create whose JSON happens to be
/// complete already creates nothing.
#[tokio::test]
async fn a_body_cut_off_before_its_end_is_refused_not_handled() {
    use std::io::{Read, Write};
    let data = TempDir::new("paylinks-security-truncated");
    let server = Server::start(&data.0);
    let body = seed_fixed_amount(MERCHANT_ID).to_string();
    let address = server.base.trim_start_matches("http://").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        let head = format!(
            "POST /api/payment-links/create HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
             x-api-key: {}\r\nx-ozura-api-key: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            paylinks_tests::VAULT_KEY,
            paylinks_tests::MERCHANT_KEY,
            body.len() + 100,
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body.as_bytes()).unwrap();
        // The client stops sending: 100 promised bytes never come.
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok();
        answer
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("body: could not be read to its end"), "{answer}");
    let listed = merchant_request(reqwest::Method::GET, &format!("{}/api/payment-links", server.base))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(0), "nothing was created: {listed}");
}
