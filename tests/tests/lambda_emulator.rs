//! The Lambda binaries themselves (functions/*), run by `cargo lambda watch` (the Lambda
//! runtime emulator, routing API paths to functions by `[workspace.metadata.lambda.watch.router]`
//! in the root Cargo.toml) against DynamoDB on moto_server: the table and a merchant made with
//! the `paylinks` CLI as an operator would against AWS, then the local flow over HTTP.
//!
//! Needs `cargo-lambda` (`scripts/tools.sh lambda`; `scripts/test.sh` installs it) and fails,
//! never skips, without it. Functions compile on their first request (a minute or two cold).
//!
//! To cover a new endpoint: add its route to the router (tests/tests/deploy_template.rs checks
//! that) and drive it from the flow below through `Emulated`.

use std::time::Duration;

use paylinks_core::test_support::moto_endpoint;
use paylinks_tests::{LambdaEmulator, form_token, next_year_expiry, parse_merchant_keys, run_paylinks, seed_examples};
use reqwest::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

const MERCHANT_ID: &str = "store_emulated";

/// The functions the tests below send real requests to, through the emulator: every one.
const FUNCTIONS_DRIVEN: [&str; 23] = [
    "activate-link",
    "assets",
    "cancel",
    "check-availability",
    "checkout-page",
    "create",
    "create-webhook-endpoint",
    "deactivate-link",
    "delete-webhook-endpoint",
    "deliver-webhooks",
    "get-link",
    "get-webhook-endpoint",
    "list-events",
    "list-links",
    "list-webhook-deliveries",
    "list-webhook-endpoints",
    "open-link",
    "pay",
    "qr-code",
    "redeliver-event",
    "rotate-webhook-secret",
    "session-status",
    "stripe-webhook",
];

/// The webhook signing secret the stripe-webhook function reads from Parameter Store at init.
const STRIPE_WEBHOOK_SECRET: &str = "whsec_emulated";

/// A request may reach a function that is still compiling: allow a cold build and then some.
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(15 * 60);

struct Emulated {
    emulator: LambdaEmulator,
    client: Client,
    vault_key: String,
    merchant_key: String,
}

impl Emulated {
    /// moto_server, a fresh table and merchant, and the emulator serving the functions on them.
    async fn start() -> Emulated {
        let endpoint = moto_endpoint().await;
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let table = format!("paylinks-emulator-{}-{nanos}", std::process::id());
        // As template.yaml deploys it: the secret in an SSM SecureString, its name in the environment.
        let parameter = format!("/{table}/stripe-webhook-secret");
        paylinks_core::test_support::put_secure_string(&endpoint, &parameter, STRIPE_WEBHOOK_SECRET).await;
        // What a function gets in Lambda (TABLE_NAME, region, credentials), plus the endpoints.
        // PUBLIC_BASE_URL empty, as the template's default: links point at the API's own host.
        let env = [
            ("TABLE_NAME", table.as_str()),
            ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
            ("AWS_ENDPOINT_URL_SSM", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "x"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("AWS_REGION", "us-east-1"),
            // The most verbose level a deployment may set: the suite's secrets audit then reads every
            // line these functions wrote (the runtime logs raw events, keys included, at trace).
            ("LOG_LEVEL", "trace"),
            ("STRIPE_WEBHOOK_SECRET_PARAMETER", parameter.as_str()),
        ];
        run_paylinks(&["table", "create", "--name", &table], &env);
        let mut merchant_env = env.to_vec();
        merchant_env.push(("PAYLINKS_STORE", "dynamodb"));
        let output =
            run_paylinks(&["merchant", "create", "--id", MERCHANT_ID, "--name", "Emulated Store"], &merchant_env);
        let (vault_key, merchant_key) = parse_merchant_keys(&output);
        let emulator = LambdaEmulator::start(&env);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FIRST_REQUEST_TIMEOUT)
            .build()
            .expect("http client");
        Emulated { emulator, client, vault_key, merchant_key }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emulator.base)
    }

    /// The host the functions see, as API Gateway's domain: generated URLs are `https://{host}`.
    fn public_base(&self) -> String {
        self.emulator.base.replacen("http://", "https://", 1)
    }

    /// A URL handed out by a function (https, the API host), fetched from the emulator (http).
    fn local(&self, public_url: &str) -> String {
        let path = public_url.strip_prefix(&self.public_base()).unwrap_or_else(|| {
            panic!("{public_url} is not on the API host {}", self.public_base());
        });
        self.url(path)
    }

    async fn send(&self, request: RequestBuilder) -> Response {
        match request.send().await {
            Ok(response) => response,
            Err(error) => panic!("request to the emulator failed: {error}\nemulator log:\n{}", self.emulator.log()),
        }
    }

    async fn get(&self, path_or_url: &str) -> Response {
        let url = if path_or_url.starts_with('/') { self.url(path_or_url) } else { path_or_url.to_owned() };
        self.send(self.client.get(url)).await
    }

    async fn create(&self, body: &Value) -> Response {
        let request = self
            .client
            .post(self.url("/api/payment-links/create"))
            .header("X-API-KEY", &self.vault_key)
            .header("X-OZURA-API-KEY", &self.merchant_key)
            .json(body);
        self.send(request).await
    }

    /// A merchant API request to `path` with the merchant's two keys.
    fn merchant(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("X-API-KEY", &self.vault_key)
            .header("X-OZURA-API-KEY", &self.merchant_key)
    }

    /// Creates a link from `body` and returns its id.
    async fn create_link(&self, body: &Value) -> String {
        let response = self.create(body).await;
        let status = response.status();
        let created = self.json(response).await;
        assert_eq!(status, 201, "create: {created}");
        created["data"]["paymentLinkId"].as_str().expect("paymentLinkId").to_owned()
    }

    /// Opens a link as a customer (open-link, then checkout-page): the checkout page's path on
    /// the emulator, its session id and the form token of its pay form.
    async fn open_checkout(&self, link_id: &str) -> (String, String, String) {
        let opened = self.get(&format!("/pay/{link_id}")).await;
        assert_eq!(opened.status(), 303, "open {link_id}");
        let location = opened.headers()["location"].to_str().unwrap().to_owned();
        let page_path = location.strip_prefix(&self.public_base()).expect("a checkout page on the API host").to_owned();
        let session_id = page_path.strip_prefix("/checkout/").expect("/checkout/{sessionId}").to_owned();
        let page = self.get(&page_path).await;
        assert_eq!(page.status(), 200, "checkout page {page_path}");
        let html = page.text().await.unwrap();
        let token = form_token(&html).unwrap_or_else(|| panic!("no form token on {page_path}:\n{html}")).to_owned();
        (page_path, session_id, token)
    }

    /// Posts the pay form of the page at `page_path`, as a browser does (a form body).
    async fn pay(&self, page_path: &str, form: &[(&str, &str)]) -> Response {
        self.send(self.client.post(self.url(&format!("{page_path}/pay"))).form(form)).await
    }

    /// The response's body as JSON, with the emulator's log when it is not JSON.
    async fn json(&self, response: Response) -> Value {
        let text = response.text().await.expect("response body");
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {text}\nemulator log:\n{}", self.emulator.log()))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lambda_functions_create_check_and_open_the_seed_examples_on_dynamodb() {
    let emulated = Emulated::start().await;

    // The stylesheet first: the cheapest function, and it waits out the first compile.
    let css = emulated.get("/assets/checkout.css").await;
    assert_eq!(css.status(), 200, "assets function; emulator log:\n{}", emulated.emulator.log());
    assert!(css.headers()["content-type"].to_str().unwrap().starts_with("text/css"));

    for (body, days) in seed_examples(MERCHANT_ID) {
        let before = chrono::Utc::now();
        let response = emulated.create(&body).await;
        let status = response.status();
        let created = emulated.json(response).await;
        assert_eq!(status, 201, "create: {created}");
        assert_eq!(created["success"], json!(true));
        let id = created["data"]["paymentLinkId"].as_str().expect("paymentLinkId").to_owned();
        assert!(id.starts_with("pl_"), "{id}");
        let url = created["data"]["url"].as_str().expect("url");
        assert_eq!(url, format!("{}/pay/{id}", emulated.public_base()));
        let expires_at: chrono::DateTime<chrono::Utc> = created["data"]["expiresAt"].as_str().unwrap().parse().unwrap();
        let expected = before + chrono::TimeDelta::days(days);
        assert!((expires_at - expected).num_seconds().abs() < 60, "{expires_at} vs {expected}");

        let response = emulated.get(&format!("/api/payment-links/{id}/check-availability")).await;
        assert_eq!(response.status(), 200);
        let availability = emulated.json(response).await;
        assert_eq!(availability, json!({"success": true, "available": true, "message": "Payment link is available"}));

        let opened = emulated.get(&emulated.local(url)).await;
        assert_eq!(opened.status(), 303, "open {url}");
        let location = opened.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(&format!("{}/checkout/cs_", emulated.public_base())), "{location}");

        let page = emulated.get(&emulated.local(&location)).await;
        assert_eq!(page.status(), 200, "checkout page {location}");
        assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    }

    let response = emulated.get("/api/payment-links/pl_01ARZ3NDEKTSV4RRFFQ69G5FAV/check-availability").await;
    assert_eq!(response.status(), 404);
    let wrong_key = emulated
        .send(
            emulated
                .client
                .post(emulated.url("/api/payment-links/create"))
                .header("X-API-KEY", &emulated.vault_key)
                .header("X-OZURA-API-KEY", "mk_not_a_key")
                .json(&seed_examples(MERCHANT_ID)[0].0),
        )
        .await;
    assert_eq!(wrong_key.status(), 401);
}

/// Checks that `bytes` are a whole PNG, byte for byte as encoded (signature, every chunk's
/// CRC, IHDR first and IEND last; a body mangled on its way, e.g. read as text or not
/// base64-decoded, fails), and returns its width and height.
fn png_dimensions(bytes: &[u8]) -> (u32, u32) {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFF_u32;
        for byte in data {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    let be32 = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG: {:?}", &bytes[..bytes.len().min(16)]);
    let (mut at, mut chunks, mut dimensions) = (8, Vec::new(), (0, 0));
    while at < bytes.len() {
        assert!(at + 12 <= bytes.len(), "a PNG chunk is cut at byte {at} of {}", bytes.len());
        let length = be32(at) as usize;
        assert!(at + 12 + length <= bytes.len(), "a PNG chunk is cut at byte {at} of {}", bytes.len());
        let kind = String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned();
        let crc = be32(at + 8 + length);
        assert_eq!(crc32(&bytes[at + 4..at + 8 + length]), crc, "PNG chunk {kind} at byte {at}: wrong CRC");
        if kind == "IHDR" {
            dimensions = (be32(at + 8), be32(at + 12));
        }
        chunks.push(kind);
        at += 12 + length;
    }
    assert_eq!(chunks.first().map(String::as_str), Some("IHDR"), "{chunks:?}");
    assert_eq!(chunks.last().map(String::as_str), Some("IEND"), "{chunks:?}");
    assert!(chunks.iter().any(|kind| kind == "IDAT"), "{chunks:?}");
    dimensions
}

/// The functions the flow above does not reach, each answering real requests as a Lambda
/// binary: pay (a form body in, a redirect or a page out), qr-code (a binary body out),
/// session-status, cancel, get-link, list-links, deactivate-link and activate-link.
#[tokio::test(flavor = "multi_thread")]
async fn the_lambda_functions_pay_cancel_and_serve_the_merchant_api_on_dynamodb() {
    let emulated = Emulated::start().await;
    let [(fixed, _), (itemised, _), (donation, _)] = seed_examples(MERCHANT_ID);
    let fixed = emulated.create_link(&fixed).await;
    let itemised = emulated.create_link(&itemised).await;
    let donation = emulated.create_link(&donation).await;

    // pay: a declined card goes back to the page (303, then a GET saying why); the 4242 card
    // pays and goes to the merchant's success URL.
    let (page_path, session_id, token) = emulated.open_checkout(&fixed).await;
    let expiry = next_year_expiry();
    let pay_with = async |card: &str| {
        let form = [
            ("formToken", token.as_str()),
            ("cardNumber", card),
            ("expiry", expiry.as_str()),
            ("cvc", "123"),
            ("cardholderName", "Ada Lovelace"),
        ];
        emulated.pay(&page_path, &form).await
    };
    let response = pay_with("4000 0000 0000 0002").await;
    assert_eq!(response.status(), 303, "a declined card; emulator log:\n{}", emulated.emulator.log());
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.ends_with(&format!("/checkout/{session_id}?declined=declined")), "{location}");
    let response = emulated.get(&location).await;
    assert_eq!(response.status(), 200, "the page after a decline; emulator log:\n{}", emulated.emulator.log());
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"id="form-error""#) && page.contains(r#"id="pay-form""#), "{page}");
    assert!(!page.contains("4000000000000002") && !page.contains("4000 0000 0000 0002"), "the card is echoed");

    let response = pay_with("4242 4242 4242 4242").await;
    assert_eq!(response.status(), 303, "the 4242 card; emulator log:\n{}", emulated.emulator.log());
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location.as_str().split('?').next(), Some("https://mystore.com/thank-you"), "{location}");
    let params: std::collections::BTreeMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(params["success"], "true", "{location}");
    assert_eq!(params["sessionId"], session_id, "{location}");
    assert_eq!((params["amount"].as_str(), params["cardLastFour"].as_str()), ("50.00", "4242"), "{location}");

    // session-status: what the merchant's server checks before fulfilling the order.
    let response = emulated.send(emulated.merchant(reqwest::Method::GET, &format!("/api/sessions/{session_id}"))).await;
    assert_eq!(response.status(), 200);
    let session = emulated.json(response).await;
    assert_eq!(session["data"]["status"], json!("completed"), "{session}");
    assert_eq!(session["data"]["transactionId"].as_str(), Some(params["transactionId"].as_str()), "{session}");
    assert_eq!(session["data"]["cardLastFour"], json!("4242"), "{session}");

    // get-link: the single-use link is used up.
    let response = emulated.send(emulated.merchant(reqwest::Method::GET, &format!("/api/payment-links/{fixed}"))).await;
    assert_eq!(response.status(), 200);
    let link = emulated.json(response).await;
    assert_eq!(link["data"]["paymentLinkId"], json!(fixed), "{link}");
    assert_eq!(link["data"]["status"], json!("limit_reached"), "{link}");
    assert_eq!(link["data"]["usage"], json!({ "used": 1, "limit": 1, "remaining": 0 }), "{link}");

    // list-events: the payment, and the link it filled, newest first (written in the payment's
    // transaction; the index may take a moment to show them).
    let mut kinds = Vec::new();
    for _ in 0..50 {
        let response = emulated.send(emulated.merchant(reqwest::Method::GET, "/api/events")).await;
        assert_eq!(response.status(), 200, "list-events; emulator log:\n{}", emulated.emulator.log());
        let events = emulated.json(response).await;
        kinds = events["data"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
        if kinds.len() == 2 {
            assert_eq!(events["data"][1]["data"]["sessionId"], json!(session_id), "{events}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(kinds, ["payment_link.usage_limit_reached", "checkout.session.completed"]);

    // redeliver-event: the payment's event is due again.
    let events = emulated.json(emulated.send(emulated.merchant(reqwest::Method::GET, "/api/events")).await).await;
    let event_id = events["data"][1]["id"].as_str().expect("an event id").to_owned();
    let redeliver = emulated.merchant(reqwest::Method::POST, &format!("/api/events/{event_id}/redeliver"));
    let response = emulated.send(redeliver).await;
    assert_eq!(response.status(), 202, "redeliver-event; emulator log:\n{}", emulated.emulator.log());

    // cancel: back to the cancel URL, nothing added; the session says so.
    let (_, cancelled_id, _) = emulated.open_checkout(&itemised).await;
    let response = emulated.get(&format!("/checkout/{cancelled_id}/cancel")).await;
    assert_eq!(response.status(), 303, "cancel; emulator log:\n{}", emulated.emulator.log());
    assert_eq!(response.headers()["location"], "https://fashionboutique.com/cart");
    let response =
        emulated.send(emulated.merchant(reqwest::Method::GET, &format!("/api/sessions/{cancelled_id}"))).await;
    assert_eq!(emulated.json(response).await["data"]["status"], json!("cancelled"));

    // qr-code: a PNG, a binary body through the Lambda response (base64) and the emulator.
    let response = emulated
        .send(emulated.merchant(reqwest::Method::GET, &format!("/api/payment-links/{donation}/qr?format=png&size=256")))
        .await;
    assert_eq!(response.status(), 200, "qr-code; emulator log:\n{}", emulated.emulator.log());
    assert_eq!(response.headers()["content-type"], "image/png");
    let png = response.bytes().await.unwrap();
    let (width, height) = png_dimensions(&png);
    assert!(width == height && (256..512).contains(&width), "a {width}×{height} QR code for size=256");

    // list-links: the merchant's three links, on one page.
    let response = emulated.send(emulated.merchant(reqwest::Method::GET, "/api/payment-links")).await;
    assert_eq!(response.status(), 200);
    let list = emulated.json(response).await;
    let mut listed: Vec<&str> =
        list["data"].as_array().expect("data").iter().map(|link| link["paymentLinkId"].as_str().unwrap()).collect();
    listed.sort_unstable();
    let mut expected = vec![fixed.as_str(), itemised.as_str(), donation.as_str()];
    expected.sort_unstable();
    assert_eq!(listed, expected, "{list}");
    assert_eq!(list["hasMore"], json!(false), "{list}");

    // deactivate-link and activate-link: each takes effect at once.
    let availability = async || {
        let response = emulated.get(&format!("/api/payment-links/{donation}/check-availability")).await;
        emulated.json(response).await["available"].clone()
    };
    for (action, active, status) in [("deactivate", false, "inactive"), ("activate", true, "active")] {
        let path = format!("/api/payment-links/{donation}/{action}");
        let response = emulated.send(emulated.merchant(reqwest::Method::POST, &path)).await;
        assert_eq!(response.status(), 200, "{action}; emulator log:\n{}", emulated.emulator.log());
        let link = emulated.json(response).await;
        assert_eq!((&link["data"]["active"], &link["data"]["status"]), (&json!(active), &json!(status)), "{link}");
        assert_eq!(availability().await, json!(active), "check-availability after {action}");
    }

    // create-, list- and delete-webhook-endpoint: registered (https, public host), listed
    // without its secret, removed.
    let hooks = "/api/webhook-endpoints";
    let request = emulated.merchant(reqwest::Method::POST, hooks).json(&json!({ "url": "https://shop.example/hooks" }));
    let response = emulated.send(request).await;
    assert_eq!(response.status(), 201, "create-webhook-endpoint; emulator log:\n{}", emulated.emulator.log());
    let endpoint = emulated.json(response).await;
    let id = endpoint["data"]["id"].as_str().expect("an endpoint id").to_owned();
    let listed = emulated.json(emulated.send(emulated.merchant(reqwest::Method::GET, hooks)).await).await;
    assert_eq!((&listed["data"][0]["id"], listed["data"][0].get("secret")), (&json!(id), None), "{listed}");
    let response = emulated.send(emulated.merchant(reqwest::Method::GET, &format!("{hooks}/{id}"))).await;
    assert_eq!(response.status(), 200, "get-webhook-endpoint; emulator log:\n{}", emulated.emulator.log());
    assert_eq!(emulated.json(response).await["data"]["url"], "https://shop.example/hooks");
    let response = emulated.send(emulated.merchant(reqwest::Method::GET, &format!("{hooks}/{id}/deliveries"))).await;
    assert_eq!(response.status(), 200, "list-webhook-deliveries; emulator log:\n{}", emulated.emulator.log());
    assert_eq!(emulated.json(response).await["data"], json!([]), "nothing was sent to it yet");
    let rotation = emulated.merchant(reqwest::Method::POST, &format!("{hooks}/{id}/rotate-secret"));
    let response = emulated.send(rotation).await;
    assert_eq!(response.status(), 200, "rotate-webhook-secret; emulator log:\n{}", emulated.emulator.log());
    let response = emulated.send(emulated.merchant(reqwest::Method::DELETE, &format!("{hooks}/{id}"))).await;
    assert_eq!(response.status(), 200, "delete-webhook-endpoint; emulator log:\n{}", emulated.emulator.log());

    // deliver-webhooks: woken by a DynamoDB Streams batch (keys only, as the table streams them),
    // it goes through the outbox and answers the partial-batch response.
    let batch = std::fs::read_to_string(
        paylinks_core::test_support::FIXTURES_DIR.replace("apigw", "dynamodb-stream") + "/new-events.json",
    )
    .expect("the stream batch fixture");
    let invocation = emulated
        .client
        .post(emulated.url("/2015-03-31/functions/deliver-webhooks/invocations"))
        .header("content-type", "application/json")
        .body(batch);
    let response = emulated.send(invocation).await;
    assert_eq!(response.status(), 200, "deliver-webhooks; emulator log:\n{}", emulated.emulator.log());
    assert_eq!(emulated.json(response).await, json!({ "batchItemFailures": [] }));

    // stripe-webhook: a signed event is acknowledged (about no payment of ours: nothing to
    // change); the same body with a wrong signature is refused.
    let event = r#"{"id":"evt_emulated","type":"payment_intent.succeeded","data":{"object":{"id":"pi_emulated"}}}"#;
    let now = chrono::Utc::now().timestamp();
    for (secret, status) in [(STRIPE_WEBHOOK_SECRET, 200), ("whsec_someone_else", 400)] {
        let request = emulated
            .client
            .post(emulated.url("/webhooks/stripe"))
            .header("Stripe-Signature", paylinks_core::test_support::stripe_signature(event, secret, now))
            .header("Content-Type", "application/json")
            .body(event);
        let response = emulated.send(request).await;
        assert_eq!(response.status(), status, "signed with {secret}; emulator log:\n{}", emulated.emulator.log());
    }
}

/// A function added to functions/ or to the emulator's router is driven by the tests above too
/// (and, when one is renamed, this list follows).
#[test]
fn every_function_is_driven_through_the_emulator() {
    let root = paylinks_tests::workspace_root();
    let mut in_functions: Vec<String> = std::fs::read_dir(root.join("functions"))
        .expect("functions/")
        .map(|entry| entry.expect("a functions/ entry").path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    in_functions.sort_unstable();
    assert_eq!(in_functions, FUNCTIONS_DRIVEN, "functions/ against the functions these tests drive");

    let manifest: toml::Table = std::fs::read_to_string(root.join("Cargo.toml")).unwrap().parse().unwrap();
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"].as_table().expect("the router");
    let mut routed: Vec<&str> = router
        .values()
        .flat_map(|routes| routes.as_array().expect("a route list"))
        .map(|route| route["function"].as_str().expect("a function name"))
        .collect();
    // The webhook dispatcher has no route: it is invoked directly, as its triggers do.
    routed.push(paylinks_core::webhooks::DISPATCH_FUNCTION);
    routed.sort_unstable();
    routed.dedup();
    assert_eq!(routed, FUNCTIONS_DRIVEN, "the emulator's router against the functions these tests drive");
}
