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
use paylinks_tests::{LambdaEmulator, parse_merchant_keys, run_paylinks, seed_examples};
use reqwest::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

const MERCHANT_ID: &str = "store_emulated";

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
        // What a function gets in Lambda (TABLE_NAME, region, credentials), plus the endpoint.
        // PUBLIC_BASE_URL empty, as the template's default: links point at the API's own host.
        let env = [
            ("TABLE_NAME", table.as_str()),
            ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "x"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("AWS_REGION", "us-east-1"),
            // The most verbose level a deployment may set: the suite's secrets audit then reads every
            // line these functions wrote (the runtime logs raw events, keys included, at trace).
            ("LOG_LEVEL", "trace"),
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
