//! The store contract: one suite of tests, run against both stores (`contract::embedded::*` and
//! `contract::dynamodb::*`, the latter on a moto_server over loopback). A test that passes on one
//! store and fails on the other is a bug in that store.

use chrono::{DateTime, TimeZone, Utc};
use tempfile::TempDir;
use tokio::task::JoinSet;

use super::dynamo::DynamoStore;
use super::embedded::EmbeddedStore;
use super::{Store, StoreError};
use crate::model::{
    Cart, Checkout, CheckoutSession, DonationConfig, Item, LinkId, Merchant, PaymentLink, SessionId, SessionStatus,
};
use crate::money::MinorUnits;
use crate::test_support;

/// A store under test, with whatever keeps its data alive.
trait Fixture: Sized {
    type Store: Store + Clone + 'static;
    /// A store holding no data.
    async fn fresh() -> Self;
    fn store(&self) -> &Self::Store;
    /// A new store on the same data, as after a restart of the process.
    async fn reopen(self) -> Self;
}

struct Embedded {
    store: EmbeddedStore,
    dir: TempDir,
}

impl Fixture for Embedded {
    type Store = EmbeddedStore;

    async fn fresh() -> Self {
        let (store, dir) = test_support::fresh_embedded_store();
        Embedded { store, dir }
    }

    fn store(&self) -> &EmbeddedStore {
        &self.store
    }

    async fn reopen(self) -> Self {
        let Embedded { store, dir } = self;
        // redb refuses a second open of a file in one process: close it first.
        drop(store);
        let store = EmbeddedStore::open(&test_support::embedded_store_path(&dir)).expect("reopen the embedded store");
        Embedded { store, dir }
    }
}

struct Dynamo {
    store: DynamoStore,
}

impl Fixture for Dynamo {
    type Store = DynamoStore;

    async fn fresh() -> Self {
        Dynamo { store: test_support::fresh_dynamo_store().await }
    }

    fn store(&self) -> &DynamoStore {
        &self.store
    }

    async fn reopen(self) -> Self {
        let client = test_support::moto_client().await;
        Dynamo { store: DynamoStore::new(client, self.store.table()) }
    }
}

/// Runs each named contract test against a fixture, in a module of that name.
macro_rules! contract_tests {
    ($module:ident, $fixture:ty, [$($test:ident),* $(,)?]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test::<$fixture>().await;
                }
            )*
        }
    };
}

macro_rules! contract_suite {
    ($($module:ident: $fixture:ty),* $(,)?) => {
        $(
            contract_tests!($module, $fixture, [
                links_round_trip_every_field,
                creating_an_existing_link_conflicts_and_keeps_the_original,
                unknown_links_and_sessions_are_none,
                sessions_round_trip_every_field,
                creating_an_existing_session_conflicts_and_keeps_the_original,
                merchants_are_found_by_key_hash,
                an_existing_merchant_id_conflicts_and_leaves_no_key_behind,
                an_existing_merchant_key_conflicts_and_leaves_no_merchant_behind,
                concurrent_creates_of_one_link_let_exactly_one_win,
                concurrent_creates_of_one_merchant_key_let_exactly_one_win,
                data_survives_reopening,
            ]);
        )*
    };
}

contract_suite!(embedded: super::Embedded, dynamodb: super::Dynamo);

// ---- data ----

/// An instant with nanoseconds, so a store that truncates sub-second precision fails.
fn instant(seconds: i64, nanos: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, nanos).single().expect("valid instant")
}

fn checkout(cart: Cart, metadata: &str) -> Checkout {
    Checkout {
        merchant_name: "Café Ünïcode & Sons \"Ltd\"".to_owned(),
        currency: "EUR".parse().expect("EUR"),
        cart,
        success_url: "https://shop.example/ok?order=1&x=%20".to_owned(),
        cancel_url: "https://shop.example/cancel".to_owned(),
        error_url: "https://shop.example/error".to_owned(),
        metadata: metadata.to_owned(),
    }
}

fn items_cart() -> Cart {
    Cart::Items {
        items: vec![
            Item {
                product_id: Some("sku-1".to_owned()),
                name: "Mug".to_owned(),
                price: MinorUnits(1250),
                quantity: 2,
                image_url: Some("https://cdn.example/mug.png".to_owned()),
                original_price: Some(MinorUnits(1500)),
                discount_label: Some("-17 %".to_owned()),
            },
            Item {
                product_id: None,
                name: "Sticker ✨".to_owned(),
                price: MinorUnits(99),
                quantity: 1,
                image_url: None,
                original_price: None,
                discount_label: None,
            },
            Item {
                // Beyond 2^53: a store that goes through f64 loses the last digit.
                product_id: Some(String::new()),
                name: "Big".to_owned(),
                price: MinorUnits(9_007_199_254_740_993),
                quantity: u32::MAX,
                image_url: Some(String::new()),
                original_price: None,
                discount_label: None,
            },
        ],
        total: MinorUnits(2599),
    }
}

fn donation_cart() -> Cart {
    Cart::Donation {
        donation: DonationConfig {
            presets: vec![MinorUnits(500), MinorUnits(1000), MinorUnits(2500)],
            default_amount: Some(MinorUnits(1000)),
            allow_custom_amount: true,
            min_amount: Some(MinorUnits(100)),
            max_amount: Some(MinorUnits(99_999_999)),
        },
    }
}

fn bare_donation_cart() -> Cart {
    Cart::Donation {
        donation: DonationConfig {
            presets: vec![],
            default_amount: None,
            allow_custom_amount: false,
            min_amount: None,
            max_amount: None,
        },
    }
}

const METADATA: &str =
    r#"{"order":"A-1","nested":{"list":[1,2.5,null,true,"x"]},"emoji":"💳","quote":"\"q\"","empty":{}}"#;

fn link(cart: Cart, usage_limit: Option<u64>) -> PaymentLink {
    PaymentLink {
        id: LinkId::generate(),
        merchant_id: "m_contract".to_owned(),
        checkout: checkout(cart, METADATA),
        usage_limit,
        used: 0,
        reserved: 0,
        claims: Default::default(),
        active: true,
        created_at: instant(1_767_225_600, 123_456_789),
        expires_at: instant(1_769_904_000, 987_654_321),
    }
}

fn amount_link() -> PaymentLink {
    link(Cart::Amount { amount: MinorUnits(2500) }, Some(1))
}

fn merchant(id: &str, key_hash: &str) -> Merchant {
    Merchant {
        id: id.to_owned(),
        name: format!("Merchant {id}"),
        vault_key_hash: format!("vault-{id}"),
        merchant_key_hash: key_hash.to_owned(),
        created_at: instant(1_767_225_600, 1_000),
    }
}

/// A unique key hash: DynamoDB tables are fresh per test, but uniqueness costs nothing.
fn key_hash() -> String {
    format!("{:0>64}", ulid::Ulid::new().to_string().to_lowercase())
}

fn assert_conflict(result: Result<(), StoreError>, what: &str) {
    match result {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("{what}: expected Conflict, got {other:?}"),
    }
}

// ---- the contract ----

async fn links_round_trip_every_field<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let mut links = vec![
        link(items_cart(), None),
        link(donation_cart(), Some(1_000_000)),
        link(bare_donation_cart(), Some(u64::MAX)),
        amount_link(),
    ];
    // The rest of the fields' corners: inactive, used, empty metadata, whole-second times.
    let mut corner = amount_link();
    corner.active = false;
    corner.used = 7;
    corner.checkout.metadata = String::new();
    corner.created_at = instant(1_767_225_600, 0);
    corner.expires_at = instant(1_767_225_601, 1);
    links.push(corner);

    for link in &links {
        store.create_link(link).await.expect("create link");
    }
    for link in &links {
        assert_eq!(store.get_link(&link.id).await.expect("get link").as_ref(), Some(link));
    }
}

async fn creating_an_existing_link_conflicts_and_keeps_the_original<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let original = link(items_cart(), Some(3));
    store.create_link(&original).await.expect("create link");

    let mut impostor = link(Cart::Amount { amount: MinorUnits(1) }, None);
    impostor.id = original.id.clone();
    impostor.merchant_id = "m_other".to_owned();
    assert_conflict(store.create_link(&impostor).await, "second create of a link id");
    assert_conflict(store.create_link(&original).await, "identical second create of a link");

    assert_eq!(store.get_link(&original.id).await.expect("get link"), Some(original));
}

async fn unknown_links_and_sessions_are_none<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let known = amount_link();
    store.create_link(&known).await.expect("create link");
    store.create_session(&CheckoutSession::open(&known, instant(1_767_225_700, 5))).await.expect("create session");

    assert_eq!(store.get_link(&LinkId::generate()).await.expect("get link"), None);
    assert_eq!(store.get_session(&SessionId::generate()).await.expect("get session"), None);
    assert_eq!(store.find_merchant_by_key(&key_hash()).await.expect("find merchant"), None);
}

async fn sessions_round_trip_every_field<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let statuses = [
        SessionStatus::Pending,
        SessionStatus::Completed,
        SessionStatus::Failed,
        SessionStatus::Cancelled,
        SessionStatus::Expired,
    ];
    let carts = [items_cart(), donation_cart(), bare_donation_cart(), Cart::Amount { amount: MinorUnits(1) }];
    let mut sessions = Vec::new();
    for (n, (status, cart)) in statuses.into_iter().zip(carts.into_iter().cycle()).enumerate() {
        let link = link(cart, Some(2));
        let mut session = CheckoutSession::open(&link, instant(1_767_225_700 + n as i64, 111_222_333));
        session.status = status;
        sessions.push(session);
    }
    for session in &sessions {
        store.create_session(session).await.expect("create session");
    }
    for session in &sessions {
        assert_eq!(store.get_session(&session.id).await.expect("get session").as_ref(), Some(session));
    }
}

async fn creating_an_existing_session_conflicts_and_keeps_the_original<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = amount_link();
    let original = CheckoutSession::open(&link, instant(1_767_225_700, 42));
    store.create_session(&original).await.expect("create session");

    let mut impostor = CheckoutSession::open(&link, instant(1_767_225_800, 0));
    impostor.id = original.id.clone();
    impostor.status = SessionStatus::Completed;
    impostor.checkout.metadata = "{}".to_owned();
    assert_conflict(store.create_session(&impostor).await, "second create of a session id");

    assert_eq!(store.get_session(&original.id).await.expect("get session"), Some(original));
}

async fn merchants_are_found_by_key_hash<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let first = merchant("m_first", &key_hash());
    let second = merchant("m_second", &key_hash());
    store.create_merchant(&first).await.expect("create first merchant");
    store.create_merchant(&second).await.expect("create second merchant");

    assert_eq!(store.find_merchant_by_key(&first.merchant_key_hash).await.expect("find"), Some(first.clone()));
    assert_eq!(store.find_merchant_by_key(&second.merchant_key_hash).await.expect("find"), Some(second));
    // The vault key is no merchant key.
    assert_eq!(store.find_merchant_by_key(&first.vault_key_hash).await.expect("find"), None);
}

async fn an_existing_merchant_id_conflicts_and_leaves_no_key_behind<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let first = merchant("m_same", &key_hash());
    store.create_merchant(&first).await.expect("create merchant");

    let mut second = merchant("m_same", &key_hash());
    second.name = "Someone else".to_owned();
    assert_conflict(store.create_merchant(&second).await, "merchant with an existing id");

    assert_eq!(store.find_merchant_by_key(&first.merchant_key_hash).await.expect("find"), Some(first));
    assert_eq!(store.find_merchant_by_key(&second.merchant_key_hash).await.expect("find"), None);
    // The refused key is free: no orphan key item blocks another merchant from it.
    let third = merchant("m_third", &second.merchant_key_hash);
    store.create_merchant(&third).await.expect("the refused key is still free");
    assert_eq!(store.find_merchant_by_key(&third.merchant_key_hash).await.expect("find"), Some(third));
}

async fn an_existing_merchant_key_conflicts_and_leaves_no_merchant_behind<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let first = merchant("m_first", &key_hash());
    store.create_merchant(&first).await.expect("create merchant");

    let second = merchant("m_second", &first.merchant_key_hash);
    assert_conflict(store.create_merchant(&second).await, "merchant with an existing key");

    assert_eq!(store.find_merchant_by_key(&first.merchant_key_hash).await.expect("find"), Some(first));
    // The refused id is free: no orphan merchant item blocks it.
    let retry = merchant("m_second", &key_hash());
    store.create_merchant(&retry).await.expect("the refused id is still free");
    assert_eq!(store.find_merchant_by_key(&retry.merchant_key_hash).await.expect("find"), Some(retry));
}

const RACERS: usize = 20;

async fn concurrent_creates_of_one_link_let_exactly_one_win<F: Fixture>() {
    let fixture = F::fresh().await;
    let id = LinkId::generate();
    let mut racers = JoinSet::new();
    for n in 0..RACERS {
        let store = fixture.store().clone();
        let mut link = amount_link();
        link.id = id.clone();
        link.checkout.merchant_name = format!("racer {n}");
        racers.spawn(async move {
            let result = store.create_link(&link).await;
            (link, result)
        });
    }
    let results = racers.join_all().await;

    let outcomes: Vec<(&str, &Result<(), StoreError>)> =
        results.iter().map(|(link, result)| (link.checkout.merchant_name.as_str(), result)).collect();
    let winners: Vec<&PaymentLink> = results.iter().filter(|(_, r)| r.is_ok()).map(|(link, _)| link).collect();
    assert_eq!(winners.len(), 1, "exactly one create wins: {outcomes:?}");
    for (_, result) in &outcomes {
        assert!(matches!(result, Ok(()) | Err(StoreError::Conflict(_))), "losers get Conflict: {outcomes:?}");
    }
    assert_eq!(fixture.store().get_link(&id).await.expect("get link").as_ref(), Some(winners[0]));
}

async fn concurrent_creates_of_one_merchant_key_let_exactly_one_win<F: Fixture>() {
    let fixture = F::fresh().await;
    let key = key_hash();
    let mut racers = JoinSet::new();
    for n in 0..RACERS {
        let store = fixture.store().clone();
        let merchant = merchant(&format!("m_racer_{n}"), &key);
        racers.spawn(async move {
            let result = store.create_merchant(&merchant).await;
            (merchant, result)
        });
    }
    let results = racers.join_all().await;

    let outcomes: Vec<(&str, &Result<(), StoreError>)> =
        results.iter().map(|(merchant, result)| (merchant.id.as_str(), result)).collect();
    let winners: Vec<&Merchant> = results.iter().filter(|(_, r)| r.is_ok()).map(|(m, _)| m).collect();
    assert_eq!(winners.len(), 1, "exactly one create wins: {outcomes:?}");
    for (_, result) in &outcomes {
        assert!(matches!(result, Ok(()) | Err(StoreError::Conflict(_))), "losers get Conflict: {outcomes:?}");
    }
    assert_eq!(fixture.store().find_merchant_by_key(&key).await.expect("find").as_ref(), Some(winners[0]));
}

async fn data_survives_reopening<F: Fixture>() {
    let fixture = F::fresh().await;
    let link = link(donation_cart(), Some(5));
    let session = CheckoutSession::open(&link, instant(1_767_225_700, 999_999_999));
    let merchant = merchant("m_durable", &key_hash());
    fixture.store().create_link(&link).await.expect("create link");
    fixture.store().create_session(&session).await.expect("create session");
    fixture.store().create_merchant(&merchant).await.expect("create merchant");

    let fixture = fixture.reopen().await;
    let store = fixture.store();
    assert_eq!(store.get_link(&link.id).await.expect("get link"), Some(link.clone()));
    assert_eq!(store.get_session(&session.id).await.expect("get session"), Some(session));
    assert_eq!(store.find_merchant_by_key(&merchant.merchant_key_hash).await.expect("find"), Some(merchant));
    // And it still refuses what it refused before the restart.
    assert_conflict(store.create_link(&link).await, "create of a link id after reopening");
}
