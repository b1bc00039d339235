//! Shared pieces of the benchmarks (see `scripts/bench.sh` and BENCHMARKS.md), on
//! paylinks-core's test support: API Gateway events built from the fixtures, the test app (an
//! `App` with a bench merchant and a manual clock), and an SDK interceptor counting DynamoDB
//! requests by operation.
//!
//! Benchmarks print figures; nothing here asserts a timing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use paylinks_core::api::{Endpoint, handle};
use paylinks_core::model::{LinkId, SessionId};
use paylinks_core::store::Store;
pub use paylinks_core::test_support::{RequestCounter, counted_client, event, fixture};
use paylinks_core::test_support::{TestApp, TestMerchant, check_event, open_event, parse_event, pay_event};
use paylinks_core::{App, Config, ManualClock};
use serde_json::{Value, json};

pub const MERCHANT_ID: &str = "bench_merchant";
pub const VAULT_KEY: &str = "vk_bench_vault";
pub const MERCHANT_KEY: &str = "mk_bench_merchant";
pub const MERCHANT: TestMerchant =
    TestMerchant { id: MERCHANT_ID, name: "Bench Store", vault_key: VAULT_KEY, merchant_key: MERCHANT_KEY };
pub const CARD_OK: &str = "4242424242424242";
pub const CARD_DECLINED: &str = "4000000000000002";

/// The create fixture's body (the seed's fixed-amount link) with `usageLimit` null and a
/// 10-year expiry, so one link can be opened and paid as often as a benchmark wants.
pub fn create_event_text() -> String {
    create_event_text_with_limit(None)
}

/// The create event with `usageLimit` set to `limit` (null when None).
pub fn create_event_text_with_limit(limit: Option<u64>) -> String {
    paylinks_core::test_support::create_event_text(&MERCHANT, |body| {
        body["usageLimit"] = limit.map_or(Value::Null, |n| json!(n));
        body["expiresInDays"] = json!(3650);
    })
}

/// A link selling three items (no `amount`), valid for ten years.
pub fn create_event_text_with_items() -> String {
    paylinks_core::test_support::create_event_text(&MERCHANT, |body| {
        let items = json!([
            { "name": "Mug", "price": 12, "quantity": 2 },
            { "name": "Tea", "price": 8.5 },
            { "name": "Card", "price": 3 }
        ]);
        paylinks_core::test_support::sell_items(body, items);
        body["expiresInDays"] = json!(3650);
    })
}

pub fn create_request() -> Request {
    parse_event(&create_event_text())
}

pub fn check_request(link: &LinkId) -> Request {
    check_event(link.as_str())
}

pub fn open_request(link: &LinkId) -> Request {
    open_event(link.as_str())
}

pub fn pay_request(session: &SessionId, form_token: &str, card: &str) -> Request {
    pay_event(session, form_token, card)
}

/// An app on `store` with the bench merchant and a manual clock starting now.
pub async fn bench_app(store: Arc<dyn Store>, config: Config) -> (App, Arc<ManualClock>) {
    let TestApp { mut app, clock, .. } = TestApp::start(store, MERCHANT, chrono::Utc::now()).await;
    app.config = config;
    (app, clock)
}

/// Config without the per-merchant API rate limit (criterion creates thousands of links a minute).
pub fn unlimited_config() -> Config {
    Config { api_requests_per_minute: 0, ..Config::default() }
}

fn body_text(response: &Response<Body>) -> String {
    String::from_utf8_lossy(response.body()).into_owned()
}

/// Creates a link through the create handler; panics unless 201.
pub async fn create_link(app: &App) -> LinkId {
    let response = handle(Endpoint::CreateLink, create_request(), app).await;
    created_link(&response)
}

pub fn created_link(response: &Response<Body>) -> LinkId {
    assert_eq!(response.status(), StatusCode::CREATED, "{}", body_text(response));
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    body["data"]["paymentLinkId"].as_str().unwrap().parse().unwrap()
}

/// The session an open (`GET /pay/{id}`) redirected to; panics unless 303.
pub fn opened_session(response: &Response<Body>) -> SessionId {
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{}", body_text(response));
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    location.rsplit('/').next().unwrap().parse().unwrap()
}

pub async fn open_session(app: &App, link: &LinkId) -> SessionId {
    opened_session(&handle(Endpoint::OpenLink, open_request(link), app).await)
}

/// A pay request for `session` with its form token (read from the store beforehand).
pub async fn pay_request_for(app: &App, session: &SessionId, card: &str) -> Request {
    let stored = app.store.get_session(session).await.unwrap().expect("session exists");
    pay_request(session, &stored.form_token, card)
}

/// Whether a DynamoDB operation reads or writes (billing: RCU vs WCU).
pub fn is_write(operation: &str) -> bool {
    matches!(operation, "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" | "BatchWriteItem")
}

/// Latency summary of a set of samples.
pub struct Summary {
    pub n: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub mean: Duration,
}

pub fn summarize(mut samples: Vec<Duration>) -> Summary {
    samples.sort();
    let n = samples.len();
    let at = |q: f64| samples[((n as f64 * q) as usize).min(n - 1)];
    let mean = samples.iter().sum::<Duration>() / n as u32;
    Summary { n, p50: at(0.5), p99: at(0.99), mean }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "n={} p50={:.1}µs p99={:.1}µs mean={:.1}µs",
            self.n,
            self.p50.as_secs_f64() * 1e6,
            self.p99.as_secs_f64() * 1e6,
            self.mean.as_secs_f64() * 1e6
        )
    }
}

/// Times one future.
pub async fn timed<T>(future: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let value = future.await;
    (value, started.elapsed())
}
