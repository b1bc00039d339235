//! Test support, for this crate's unit tests and (feature `test-support`) for the black-box
//! tests and the benchmarks. One job a file:
//!
//! - `moto`: a moto_server (DynamoDB) for the test process, clients for it, a request counter;
//! - `contention`: DynamoDB answering writes as a busy table does (conflicts, throttling);
//! - `stores`: stores holding no data, on moto_server or in a temporary directory;
//! - `app`: the test app, an `App` with a manual clock and a merchant whose keys are known;
//! - `events`: API Gateway events from the fixtures, for that merchant;
//! - `links`: what test links sell;
//! - `seeds`: the seed's create examples.

mod app;
mod contention;
mod events;
mod links;
mod moto;
mod seeds;
mod stores;

use std::net::TcpListener;

pub use app::{TestApp, TestMerchant, pay_new_link};
pub use contention::{Contention, ContentionInjector, contended_client};
pub use events::{
    FIXTURES_DIR, check_event, checkout_page_at, create_event, create_event_text, event, fixture,
    merchant_event_with_body, open_event, parse_event, pay_event, sell_items, session_event,
};
#[cfg(feature = "stripe")]
pub use events::{stripe_signature, stripe_webhook_event};
pub use links::{shop_checkout, test_stripe_js};
pub use moto::{ENDPOINT_ENV, RequestCounter, counted_client, dynamo_client, moto_client, moto_endpoint};
#[cfg(feature = "ssm")]
pub use moto::{put_secure_string, ssm_client};
pub use seeds::{seed_donation, seed_examples, seed_fixed_amount, seed_itemised};
pub use stores::{embedded_store_path, fresh_dynamo_store, fresh_dynamo_store_with, fresh_embedded_store};

/// A loopback port free when asked (another process may take it before it is used).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}
