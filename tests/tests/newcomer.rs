//! What a newcomer trips on (issue "what we claim, proven and documented"), against the real
//! `paylinks serve` over HTTP.

use paylinks_tests::{
    MERCHANT_ID, Server, TempDir, client, merchant_request, next_year_expiry, open_checkout, paylinks_bin,
    seed_fixed_amount,
};
use serde_json::{Value, json};

fn create_url(server: &Server) -> String {
    format!("{}/api/payment-links/create", server.base)
}

/// The seed's fixed-amount link, created: the create answer's JSON.
async fn create_seed_link(server: &Server) -> Value {
    let response = merchant_request(reqwest::Method::POST, &create_url(server))
        .json(&seed_fixed_amount(MERCHANT_ID))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_retried_create_with_its_keys_in_another_order_returns_the_same_link() {
    let data = TempDir::new("paylinks-newcomer-idempotent");
    let server = Server::start(&data.0);
    let body = seed_fixed_amount(MERCHANT_ID);
    let mut fields: Vec<(String, Value)> = body.as_object().unwrap().clone().into_iter().collect();
    fields.reverse();
    let reordered =
        format!("{{ {} }}", fields.iter().map(|(k, v)| format!("{}: {v}", json!(k))).collect::<Vec<_>>().join(",\n  "));
    let send = |text: String| {
        merchant_request(reqwest::Method::POST, &create_url(&server))
            .header("Idempotency-Key", "order-7781")
            .header("Content-Type", "application/json")
            .body(text)
            .send()
    };
    let first: Value = send(body.to_string()).await.unwrap().json().await.unwrap();
    let retried = send(reordered).await.unwrap();
    assert_eq!(retried.status(), 201, "the same request, keys in another order");
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(retried["data"]["paymentLinkId"], first["data"]["paymentLinkId"]);
}

#[tokio::test]
async fn a_json_syntax_error_says_where_the_json_breaks() {
    let data = TempDir::new("paylinks-newcomer-syntax");
    let server = Server::start(&data.0);
    let response = merchant_request(reqwest::Method::POST, &create_url(&server))
        .header("Content-Type", "application/json")
        .body(r#"{"merchantId": "your_merchant_id", "amount": "5.00",}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    let detail = error["details"][0].as_str().unwrap();
    assert!(detail.starts_with("body: must be a JSON object; it is not valid JSON:"), "{detail}");
    assert!(detail.contains("line 1 column"), "{detail}");
}

#[tokio::test]
async fn a_status_filtered_list_fills_its_page() {
    let data = TempDir::new("paylinks-newcomer-filter");
    let server = Server::start(&data.0);
    let mut ids = Vec::new();
    for _ in 0..6 {
        let created = create_seed_link(&server).await;
        ids.push(created["data"]["paymentLinkId"].as_str().unwrap().to_owned());
    }
    // The two oldest are switched off: newest first, they are the last two.
    for id in &ids[..2] {
        let url = format!("{}/api/payment-links/{id}/deactivate", server.base);
        assert_eq!(merchant_request(reqwest::Method::POST, &url).send().await.unwrap().status(), 200);
    }
    let url = format!("{}/api/payment-links?status=inactive&limit=2", server.base);
    let page: Value = merchant_request(reqwest::Method::GET, &url).send().await.unwrap().json().await.unwrap();
    let listed: Vec<&str> =
        page["data"].as_array().unwrap().iter().map(|l| l["paymentLinkId"].as_str().unwrap()).collect();
    assert_eq!(listed, [ids[1].as_str(), ids[0].as_str()], "{page}");
    assert_eq!(page["hasMore"], json!(false), "{page}");
}

#[tokio::test]
async fn the_qr_code_loads_without_keys_as_an_invoice_email_would() {
    let data = TempDir::new("paylinks-newcomer-qr");
    let server = Server::start(&data.0);
    let created = create_seed_link(&server).await;
    let qr_url = created["data"]["qrCodeUrl"].as_str().unwrap();
    let response = client().get(format!("{qr_url}?format=png")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    assert_eq!(response.headers()["cache-control"], "public, max-age=86400");
}

#[tokio::test]
async fn serve_answers_health_checks_and_the_cli_explains_a_locked_data_file() {
    let data = TempDir::new("paylinks-newcomer-health");
    let server = Server::start(&data.0);
    let response = client().get(format!("{}/health", server.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), json!({"status": "ok"}));

    // `merchant create` while serve holds the data file: a sentence saying what to do.
    let output = std::process::Command::new(paylinks_bin())
        .args(["merchant", "create", "--id", "second_shop", "--name", "Second Shop"])
        .env("PAYLINKS_DATA", &data.0)
        .env_remove("PAYLINKS_STORE")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Another process has this file open, such as a running `paylinks serve`"), "{stderr}");

    let help = std::process::Command::new(paylinks_bin()).args(["merchant", "create", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("1 to 64 letters") && help.contains("for your own records"), "{help}");
}

#[tokio::test]
async fn an_amex_test_card_with_its_four_digit_cvc_pays() {
    let data = TempDir::new("paylinks-newcomer-amex");
    let server = Server::start(&data.0);
    let created = create_seed_link(&server).await;
    let link = created["data"]["paymentLinkId"].as_str().unwrap();
    let (page_url, token) = open_checkout(&server.base, link).await.expect("the link opens");
    let expiry = next_year_expiry();
    let form = [
        ("formToken", token.as_str()),
        ("cardNumber", "3782 822463 10005"),
        ("expiry", expiry.as_str()),
        ("cvc", "1234"),
        ("cardholderName", "Ada Customer"),
    ];
    let paid = client().post(format!("{page_url}/pay")).form(&form).send().await.unwrap();
    assert_eq!(paid.status(), 303);
    let location = paid.headers()["location"].to_str().unwrap();
    assert!(location.contains("success=true") && location.contains("cardBrand=amex"), "{location}");
    assert!(location.contains("cardLastFour=0005"), "{location}");
}

#[test]
fn table_create_without_aws_settings_says_what_to_set_instead_of_probing_instance_metadata() {
    let home = TempDir::new("paylinks-newcomer-home");
    let output = std::process::Command::new(paylinks_bin())
        .args(["table", "create"])
        .env("HOME", &home.0)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_CONFIG_FILE")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no AWS region: set AWS_REGION"), "{stderr}");
    assert!(!stderr.to_ascii_lowercase().contains("imds"), "{stderr}");
}
