//! Handler cost in-process (criterion): `api::handle` for create, check-availability, open,
//! checkout page, pay (success) and pay (decline), each on the embedded store in a file on
//! disk and in a file on tmpfs (/dev/shm: the same redb code with no disk sync cost, the
//! nearest thing here to a zero-latency store). Request parsing from the fixture and the
//! setup a request needs (opening a session before a pay) are outside the timed section.
//!
//!   cargo bench -p paylinks-bench --bench handlers

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use paylinks_bench::*;
use paylinks_core::api::{Endpoint, handle};
use paylinks_core::store::embedded::EmbeddedStore;
use paylinks_core::{App, ManualClock};
use tokio::runtime::Runtime;

fn app_in(rt: &Runtime, dir: &Path) -> (App, Arc<ManualClock>) {
    let store = EmbeddedStore::open(&dir.join(format!("bench-{}.redb", ulid::Ulid::new()))).unwrap();
    rt.block_on(bench_app(Arc::new(store), unlimited_config()))
}

fn bench_store(c: &mut Criterion, rt: &Runtime, label: &str, dir: &Path) {
    let mut group = c.benchmark_group(label);
    group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(20);

    let (app, clock) = app_in(rt, dir);
    let (app, clock) = (&app, &clock);
    let link = rt.block_on(create_link(app));
    let link = &link;

    group.bench_function("create", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let request = create_request();
                let started = Instant::now();
                let response = handle(Endpoint::CreateLink, request, app).await;
                total += started.elapsed();
                assert_eq!(response.status(), 201);
            }
            total
        })
    });
    group.bench_function("check-availability", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let request = check_request(link);
                let started = Instant::now();
                let response = handle(Endpoint::CheckAvailability, request, app).await;
                total += started.elapsed();
                assert_eq!(response.status(), 200);
            }
            total
        })
    });
    group.bench_function("open", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // A new minute each time: every open counts against its client's per-minute
                // limit (a write, as on Lambda) and is never refused by it.
                clock.advance(chrono::TimeDelta::minutes(1));
                let request = open_request(link);
                let started = Instant::now();
                let response = handle(Endpoint::OpenLink, request, app).await;
                total += started.elapsed();
                opened_session(&response);
            }
            total
        })
    });
    group.bench_function("checkout-page", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let session = open_session(app, link).await;
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let request = event("checkout-page.json", &[("{{SESSION_ID}}", session.as_str())]);
                let started = Instant::now();
                let response = handle(Endpoint::CheckoutPage, request, app).await;
                total += started.elapsed();
                assert_eq!(response.status(), 200);
            }
            total
        })
    });
    for (name, card) in [("pay-success", CARD_OK), ("pay-decline", CARD_DECLINED)] {
        group.bench_function(name, |b| {
            b.to_async(rt).iter_custom(|iters| async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // A new card-testing window each time, so declines are never refused.
                    clock.advance(chrono::TimeDelta::minutes(11));
                    let session = open_session(app, link).await;
                    let request = pay_request_for(app, &session, card).await;
                    let started = Instant::now();
                    let response = handle(Endpoint::Pay, request, app).await;
                    total += started.elapsed();
                    // Paid: to the merchant's success page; declined: back to the checkout page.
                    let location = response.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("");
                    let to =
                        if location.starts_with("https://mystore.com/thank-you") { CARD_OK } else { CARD_DECLINED };
                    assert_eq!((response.status().as_u16(), to), (303, card), "{location}");
                }
                total
            })
        });
    }
    group.finish();
}

fn handlers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let disk = tempfile::Builder::new().prefix("paylinks-bench-").tempdir().unwrap();
    bench_store(c, &rt, "embedded-disk", disk.path());
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        let tmpfs = tempfile::Builder::new().prefix("paylinks-bench-").tempdir_in(&shm).unwrap();
        bench_store(c, &rt, "embedded-tmpfs", tmpfs.path());
    }
}

criterion_group!(benches, handlers);
criterion_main!(benches);
