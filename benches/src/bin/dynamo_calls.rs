//! DynamoDB requests per operation, counted by an SDK interceptor against moto_server.
//!
//!   dynamo_calls counts           # the table of requests per operation (markdown)
//!   dynamo_calls prepare TABLE    # create TABLE with the bench merchant and one link; print the link id
//!
//! The moto_server is `PAYLINKS_TEST_DYNAMODB_ENDPOINT` (scripts/bench.sh starts one with
//! scripts/moto.sh), else one started by the test support.

use std::collections::BTreeMap;
use std::sync::Arc;

use lambda_http::Request;
use paylinks_bench::*;
use paylinks_core::api::{Endpoint, handle};
use paylinks_core::store::dynamo::{DynamoStore, create_table};
use paylinks_core::test_support::moto_endpoint;
use paylinks_core::{App, Config};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("prepare") => prepare(args.get(1).expect("usage: dynamo_calls prepare TABLE")).await,
        Some("counts") | None => counts().await,
        Some(other) => panic!("unknown command {other}"),
    }
}

async fn prepare(table: &str) {
    let counter = RequestCounter::default();
    let client = counted_client(&moto_endpoint().await, &counter);
    create_table(&client, table).await.unwrap();
    let (app, _) = bench_app(Arc::new(DynamoStore::new(client, table)), Config::default()).await;
    println!("{}", create_link(&app).await);
}

/// Runs `request` through `endpoint` and returns what it cost in DynamoDB requests.
async fn cost(app: &App, counter: &RequestCounter, endpoint: Endpoint, request: Request) -> BTreeMap<String, u32> {
    counter.take();
    let response = handle(endpoint, request, app).await;
    let status = response.status();
    let counts = counter.take();
    assert!(status.as_u16() < 400 || status.as_u16() == 422, "{endpoint:?} answered {status}: {:?}", response.body());
    counts
}

async fn counts() {
    let counter = RequestCounter::default();
    let client = counted_client(&moto_endpoint().await, &counter);
    let table = format!("bench_{}", ulid::Ulid::new());
    create_table(&client, &table).await.unwrap();
    // Production configuration: the per-merchant API rate limit is on.
    let (app, _) = bench_app(Arc::new(DynamoStore::new(client, table)), Config::default()).await;
    let link = create_link(&app).await;

    let mut rows: Vec<(&str, &str, BTreeMap<String, u32>)> = Vec::new();
    rows.push(("create", "-", cost(&app, &counter, Endpoint::CreateLink, create_request()).await));
    rows.push((
        "check-availability",
        "1 read",
        cost(&app, &counter, Endpoint::CheckAvailability, check_request(&link)).await,
    ));
    rows.push(("open (GET /pay/{id})", "<= 2", cost(&app, &counter, Endpoint::OpenLink, open_request(&link)).await));
    let session = open_session(&app, &link).await;
    let page = event("checkout-page.json", &[("{{SESSION_ID}}", session.as_str())]);
    rows.push(("checkout page (GET /checkout/{id})", "-", cost(&app, &counter, Endpoint::CheckoutPage, page).await));
    // An itemised cart's session keeps its total only: the page reads the items from the link.
    let cart = created_link(
        &handle(Endpoint::CreateLink, paylinks_core::test_support::parse_event(&create_event_text_with_items()), &app)
            .await,
    );
    let cart_session = open_session(&app, &cart).await;
    let page = event("checkout-page.json", &[("{{SESSION_ID}}", cart_session.as_str())]);
    rows.push(("checkout page, itemised cart", "-", cost(&app, &counter, Endpoint::CheckoutPage, page).await));
    // Floors of issue 16 with the sandbox processor, whose charge record is one PutItem (a real
    // processor keeps it: one write less).
    let pay = pay_request_for(&app, &session, CARD_OK).await;
    rows.push(("pay, success, usageLimit null", "<= 4", cost(&app, &counter, Endpoint::Pay, pay).await));
    let session = open_session(&app, &link).await;
    let pay = pay_request_for(&app, &session, CARD_DECLINED).await;
    rows.push(("pay, decline, usageLimit null", "<= 6", cost(&app, &counter, Endpoint::Pay, pay).await));
    // The seed's one-time link (usageLimit 1): the use is really held, then counted.
    let request = lambda_http::request::from_str(&create_event_text_with_limit(Some(1))).unwrap();
    let once = created_link(&handle(Endpoint::CreateLink, request, &app).await);
    let session = open_session(&app, &once).await;
    let pay = pay_request_for(&app, &session, CARD_DECLINED).await;
    rows.push(("pay, decline, usageLimit 1", "<= 6", cost(&app, &counter, Endpoint::Pay, pay).await));
    let pay = pay_request_for(&app, &session, CARD_OK).await;
    rows.push(("pay, success, usageLimit 1", "<= 5", cost(&app, &counter, Endpoint::Pay, pay).await));

    println!("| operation | floor | requests | reads | writes | by DynamoDB operation |");
    println!("|---|---|---|---|---|---|");
    for (name, floor, counts) in rows {
        let total: u32 = counts.values().sum();
        let writes: u32 = counts.iter().filter(|(op, _)| is_write(op)).map(|(_, n)| n).sum();
        let detail: Vec<String> = counts.iter().map(|(op, n)| format!("{op}×{n}")).collect();
        println!("| {name} | {floor} | {total} | {} | {writes} | {} |", total - writes, detail.join(", "));
    }
}
