//! Check-availability and open latency with few versus many links stored.
//!
//!   scale embedded DIR N...      # embedded store in DIR (a fresh file per N)
//!   scale moto N...              # DynamoDB store on moto_server (PAYLINKS_TEST_DYNAMODB_ENDPOINT)
//!
//! Links are stored through `Store::create_link` (copies of one link made by the create
//! handler, with new ids, several at a time), then 400 checks and 400 opens are timed over 50
//! of the stored links, in-process through `api::handle`.

use std::sync::Arc;
use std::time::Instant;

use paylinks_bench::*;
use paylinks_core::api::{Endpoint, handle};
use paylinks_core::model::LinkId;
use paylinks_core::store::Store;
use paylinks_core::store::dynamo::{DynamoStore, create_table};
use paylinks_core::store::embedded::EmbeddedStore;
use paylinks_core::test_support::moto_endpoint;

const SAMPLES: usize = 400;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (kind, sizes) = match args.first().map(String::as_str) {
        Some("embedded") => ("embedded", &args[2..]),
        Some("moto") => ("moto", &args[1..]),
        _ => panic!("usage: scale embedded DIR N... | scale moto N..."),
    };
    println!("| store | links stored | insert rate | check p50 | check p99 | open p50 | open p99 |");
    println!("|---|---|---|---|---|---|---|");
    for n in sizes {
        let n: usize = n.parse().expect("N is a number");
        let store: Arc<dyn Store> = match kind {
            "embedded" => {
                let path = std::path::Path::new(&args[1]).join(format!("scale-{n}-{}.redb", ulid::Ulid::new()));
                Arc::new(EmbeddedStore::open(&path).unwrap())
            }
            _ => {
                let client = paylinks_core::test_support::dynamo_client(&moto_endpoint().await);
                let table = format!("scale_{}", ulid::Ulid::new());
                create_table(&client, &table).await.unwrap();
                Arc::new(DynamoStore::new(client, table))
            }
        };
        run(kind, n, store).await;
    }
}

async fn run(kind: &str, n: usize, store: Arc<dyn Store>) {
    let (app, _) = bench_app(Arc::clone(&store), unlimited_config()).await;
    let template = app.store.get_link(&create_link(&app).await).await.unwrap().unwrap();
    let started = Instant::now();
    let mut ids: Vec<LinkId> = Vec::with_capacity(n);
    let concurrency = 16;
    let mut stored = 1;
    while stored < n {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..concurrency.min(n - stored) {
            let mut link = template.clone();
            link.id = LinkId::generate();
            ids.push(link.id.clone());
            let store = Arc::clone(&store);
            tasks.spawn(async move { store.create_link(&link).await.unwrap() });
            stored += 1;
        }
        tasks.join_all().await;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    let probe: Vec<LinkId> = ids.iter().step_by((ids.len() / 50).max(1)).take(50).cloned().collect();
    let probe = if probe.is_empty() { vec![template.id.clone()] } else { probe };

    let mut check = Vec::with_capacity(SAMPLES);
    let mut open = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let link = &probe[i % probe.len()];
        let request = check_request(link);
        let (response, elapsed) = timed(handle(Endpoint::CheckAvailability, request, &app)).await;
        assert_eq!(response.status(), 200);
        check.push(elapsed);
        let request = open_request(link);
        let (response, elapsed) = timed(handle(Endpoint::OpenLink, request, &app)).await;
        opened_session(&response);
        open.push(elapsed);
    }
    let (check, open) = (summarize(check), summarize(open));
    let us = |d: std::time::Duration| format!("{:.0} µs", d.as_secs_f64() * 1e6);
    println!(
        "| {kind} | {n} | {rate:.0}/s | {} | {} | {} | {} |",
        us(check.p50),
        us(check.p99),
        us(open.p50),
        us(open.p99)
    );
}
