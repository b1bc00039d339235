//! Merchant webhooks: how long from a payment to its `checkout.session.completed` at the
//! merchant's receiver, with the dispatcher as `paylinks serve` runs it (a one-second tick), on
//! the embedded store and on DynamoDB (moto_server); and how many DynamoDB requests one event's
//! delivery costs.
//!
//!   webhook_delivery [PAYMENTS]     # default 40 payments per store; prints markdown
//!
//! The moto_server is `PAYLINKS_TEST_DYNAMODB_ENDPOINT` (scripts/bench.sh starts one), else one
//! started by the test support. The receiver is a bare hyper server on loopback answering 204.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use paylinks_bench::*;
use paylinks_core::api::{Endpoint, handle};
use paylinks_core::app::WebhookTargets;
use paylinks_core::store::Store;
use paylinks_core::store::dynamo::{DynamoStore, create_table};
use paylinks_core::test_support::{
    TestApp, fresh_embedded_store, merchant_event_with_body, moto_endpoint, pay_new_link,
};
use paylinks_core::webhooks::dispatch::deliver_every;
use paylinks_core::webhooks::{Sender, deliver_due};
use paylinks_core::{App, Config, SystemClock};
use serde_json::{Value, json};

/// When each session's event arrived at the receiver.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

#[tokio::main]
async fn main() {
    let payments: usize = std::env::args().nth(1).map_or(40, |n| n.parse().expect("PAYMENTS: a number"));
    let (receiver, arrivals) = start_receiver().await;
    let (embedded, _dir) = fresh_embedded_store();
    let counter = RequestCounter::default();
    let client = counted_client(&moto_endpoint().await, &counter);
    let table = format!("bench_hooks_{}", ulid::Ulid::new());
    create_table(&client, &table).await.unwrap();
    let dynamo = DynamoStore::new(client, table);

    println!("| store | payments | payment → receiver p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    for (name, store) in [("embedded", Arc::new(embedded) as Arc<dyn Store>), ("DynamoDB (moto)", Arc::new(dynamo))] {
        let app = Arc::new(app_with_endpoint(store, &receiver).await);
        let latencies = latencies(&app, &arrivals, payments).await;
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1e3);
        let summary = summarize(latencies.clone());
        let max = latencies.iter().max().copied().unwrap_or_default();
        println!("| {name} | {} | {} | {} | {} |", summary.n, ms(summary.p50), ms(summary.p99), ms(max));
        if name.starts_with("DynamoDB") {
            requests_per_event(&app, &counter).await;
        }
    }
}

/// A receiver on loopback that notes when each session's event arrived and answers 204.
async fn start_receiver() -> (String, Arrivals) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let arrivals = Arrivals::default();
    let noted = arrivals.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let noted = noted.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                    let noted = noted.clone();
                    async move {
                        let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let event: Value = serde_json::from_slice(&body).unwrap_or_default();
                        if let Some(session) = event["data"]["sessionId"].as_str() {
                            noted.lock().unwrap().entry(session.to_owned()).or_insert_with(Instant::now);
                        }
                        let response = hyper::Response::builder().status(204).body(Full::new(Bytes::new())).unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await.ok();
            });
        }
    });
    (url, arrivals)
}

/// An app on `store` on the wall clock, its merchant's endpoint (every event) at `receiver`.
async fn app_with_endpoint(store: Arc<dyn Store>, receiver: &str) -> App {
    let TestApp { mut app, .. } = TestApp::start(store, MERCHANT, chrono::Utc::now()).await;
    app.clock = Arc::new(SystemClock);
    app.config = Config { webhook_targets: WebhookTargets::Anywhere, ..unlimited_config() };
    let body = json!({ "url": receiver });
    let keys = (VAULT_KEY, MERCHANT_KEY);
    let route = "POST /api/webhook-endpoints";
    let request = merchant_event_with_body("POST", route, "/api/webhook-endpoints", Value::Null, "", body, keys);
    let response = handle(Endpoint::CreateWebhookEndpoint, request, &app).await;
    assert_eq!(response.status(), 201, "{:?}", response.body());
    app
}

/// Pays `payments` links one after another (at uneven moments against the dispatcher's tick)
/// with the dispatcher running; each payment's time from its answer to its event's arrival.
async fn latencies(app: &Arc<App>, arrivals: &Arrivals, payments: usize) -> Vec<Duration> {
    let dispatcher = app.clone();
    let sender = Sender::new(WebhookTargets::Anywhere).unwrap();
    let dispatching = tokio::spawn(async move {
        deliver_every(Duration::from_secs(1), dispatcher.store.as_ref(), &sender, || dispatcher.now()).await;
    });
    let mut paid = Vec::with_capacity(payments);
    for n in 0..payments {
        let session = pay_a_new_link(app).await;
        paid.push((session, Instant::now()));
        tokio::time::sleep(Duration::from_millis(150 + 97 * (n as u64 % 7))).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.lock().unwrap().len() < paid.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dispatching.abort();
    let mut arrived = arrivals.lock().unwrap();
    let latencies = paid
        .iter()
        .map(|(session, at)| arrived.get(session).expect("every event arrives").saturating_duration_since(*at))
        .collect();
    arrived.clear();
    latencies
}

async fn pay_a_new_link(app: &App) -> String {
    let unlimited = lambda_http::request::from_str(&create_event_text_with_limit(None)).unwrap();
    pay_new_link(app, unlimited).await.to_string()
}

/// DynamoDB requests of the dispatcher's rounds that deliver one event, and ten.
async fn requests_per_event(app: &App, counter: &RequestCounter) {
    let sender = Sender::new(WebhookTargets::Anywhere).unwrap();
    println!();
    println!("| dispatcher round (one endpoint, answering 2xx) | requests | per event | by DynamoDB operation |");
    println!("|---|---|---|---|");
    for events in [1, 10] {
        for _ in 0..events {
            pay_a_new_link(app).await;
        }
        counter.take();
        assert_eq!(deliver_due(app.store.as_ref(), &sender, app.now()).await.unwrap(), events);
        let counts = counter.take();
        let total: u32 = counts.values().sum();
        let detail: Vec<String> = counts.iter().map(|(op, n)| format!("{op}×{n}")).collect();
        let per_event = f64::from(total) / events as f64;
        println!("| {events} event(s) due | {total} | {per_event:.1} | {} |", detail.join(", "));
    }
}
