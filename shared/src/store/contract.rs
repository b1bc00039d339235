//! The store contract: one suite of tests, run against both stores (`contract::embedded::*` and
//! `contract::dynamodb::*`, the latter on a moto_server over loopback). A test that passes on one
//! store and fails on the other is a bug in that store.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use tempfile::TempDir;
use tokio::task::JoinSet;

use super::dynamo::DynamoStore;
use super::embedded::EmbeddedStore;
use super::{
    AttemptEnd, BeginAttempt, ChargeLedger, ClaimUse, ClientCount, CompletePayment, CounterLimit, Counters, EventPage,
    Events, Idempotency, IdempotentCreate, LinkRefusal, Links, Merchants, Payments, Sessions, Store, StoreError,
    Webhooks,
};
use crate::model::{
    Cart, Checkout, CheckoutSession, Delivery, DonationConfig, Event, EventId, Item, LinkId, Merchant, PaymentAttempt,
    PaymentLink, PaymentResult, RateCounter, SessionId, SessionStatus, Unavailable, WebhookEndpoint, WebhookEndpointId,
};
use crate::model::{ChargeOutcome, ChargeRecord, DeclineReason, FailureCode, IdempotencyRecord};
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
                links_are_listed_newest_first_across_pages_without_gaps,
                a_listing_shows_only_the_merchants_own_links,
                links_are_switched_off_and_on,
                an_idempotency_key_creates_one_link_and_replays_it,
                concurrent_creates_with_one_idempotency_key_create_exactly_one_link,
                an_expired_idempotency_key_can_be_used_again,
                counters_count_every_increment_even_concurrently,
                counters_count_each_client_once_even_concurrently,
                a_blocked_link_refuses_claims_until_the_block_ends,
                attempts_are_numbered_and_one_runs_at_a_time,
                an_attempt_begun_on_a_session_as_read_decides_on_the_session_as_stored,
                a_lapsed_attempt_is_taken_over_with_its_number_and_amount,
                closed_and_unknown_sessions_start_no_attempt,
                limited_links_hold_uses_up_to_the_limit_and_renewals_count_once,
                lapsed_holds_are_given_back_and_their_uses_claimable_again,
                inactive_expired_and_unknown_links_hold_nothing,
                unlimited_links_hold_nothing_and_count_every_payment,
                releasing_gives_the_use_back_once,
                a_hold_is_renewed_only_by_its_session_even_on_a_blocked_link,
                completing_turns_the_hold_into_exactly_one_use,
                completing_after_the_hold_lapsed_takes_a_free_use_or_finds_the_link_full,
                a_claim_brings_back_the_link_and_completing_from_a_stale_copy_decides_on_the_stored_link,
                an_attempt_checking_its_link_begins_only_while_the_link_takes_payments,
                completing_an_unknown_session_changes_nothing,
                a_declined_attempt_leaves_the_session_open,
                a_declined_attempt_ends_and_gives_its_hold_back_in_one_decision,
                an_attempt_counts_on_its_limits_from_its_start_and_only_a_decline_keeps_the_counts,
                an_attempt_is_refused_by_whichever_of_its_limits_is_full,
                racing_attempts_within_a_limit_let_exactly_the_limit_begin,
                a_session_is_created_within_its_limit_or_not_at_all,
                racing_opens_within_a_limit_create_exactly_the_limit,
                a_failed_attempt_fails_the_session,
                only_a_completed_session_paid_by_the_refunded_payment_is_marked_refunded,
                payments_the_payment_that_fills_a_link_and_refunds_write_their_events_with_them,
                webhook_endpoints_are_added_listed_and_removed_up_to_the_limit,
                a_failed_session_and_switching_off_an_active_link_write_their_events,
                every_event_is_due_when_written_and_stays_due_until_its_deliveries_are_done,
                a_record_of_deliveries_from_an_older_read_is_refused,
                only_pending_sessions_not_being_paid_are_cancelled,
                the_first_charge_record_under_a_key_wins_and_can_be_voided,
                racing_payments_never_oversell_a_limited_link,
                racing_completions_without_holds_never_oversell_a_limited_link,
                racing_attempts_on_one_session_let_exactly_one_start,
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
        appearance: Default::default(),
        stripe_account: None,
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
    let created_at = instant(1_767_225_600, 123_456_789);
    // `new` expires after whole days (31 here); the nanoseconds of both instants are the point.
    PaymentLink {
        expires_at: instant(1_769_904_000, 987_654_321),
        ..PaymentLink::new("m_contract", checkout(cart, METADATA), usage_limit, 31, created_at)
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
        stripe_account: None,
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
    let mut blocked = amount_link();
    blocked.blocked_until = Some(instant(1_767_226_200, 5));
    links.push(blocked);

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

// ---- paying ----

/// When the sessions of the paying tests open (with nanoseconds, like real clocks); sessions
/// live 30 minutes, their links a month.
fn opened() -> DateTime<Utc> {
    instant(1_767_225_700, 123_456_789)
}

/// `seconds` after the session opened.
fn at(seconds: i64) -> DateTime<Utc> {
    opened() + TimeDelta::seconds(seconds)
}

const NANO: TimeDelta = TimeDelta::nanoseconds(1);
/// How long the tests lease an attempt and hold a use.
const LEASE: TimeDelta = TimeDelta::seconds(60);
const HOLD: TimeDelta = TimeDelta::seconds(120);
const PRICE: MinorUnits = MinorUnits(2500);

async fn create_paying_link(store: &impl Store, usage_limit: Option<u64>) -> PaymentLink {
    let link = link(Cart::Amount { amount: PRICE }, usage_limit);
    store.create_link(&link).await.expect("create link");
    link
}

async fn open_session(store: &impl Store, link: &PaymentLink) -> CheckoutSession {
    let session = CheckoutSession::open(link, opened());
    store.create_session(&session).await.expect("create session");
    session
}

/// Starts an attempt at `at(1)` and expects it to start.
async fn start(store: &impl Store, session: &SessionId) -> PaymentAttempt {
    match store.begin_attempt(session, PRICE, at(1), at(1) + LEASE).await.expect("begin attempt") {
        BeginAttempt::Started(attempt) => attempt,
        other => panic!("expected the attempt to start, got {other:?}"),
    }
}

/// Claims a use at `now`, held for `HOLD`.
async fn claim(store: &impl Store, link: &PaymentLink, session: &SessionId, now: DateTime<Utc>) -> Claim {
    claim_until(store, &link.id, session, now, now + HOLD).await
}

/// Claims a use of `link` at `now`, held until `until`.
async fn claim_until(
    store: &impl Store,
    link: &LinkId,
    session: &SessionId,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Claim {
    store.claim_use(link, session, now, until).await.expect("claim use").into()
}

/// A claim's outcome without the link a successful one brings back.
#[derive(Debug, PartialEq, Eq)]
enum Claim {
    Claimed,
    Unavailable(Unavailable),
    Blocked(DateTime<Utc>),
    NotFound,
}

impl From<ClaimUse> for Claim {
    fn from(claimed: ClaimUse) -> Claim {
        match claimed {
            ClaimUse::Claimed(_) => Claim::Claimed,
            ClaimUse::Refused(LinkRefusal::Unavailable(reason)) => Claim::Unavailable(reason),
            ClaimUse::Refused(LinkRefusal::Blocked(until)) => Claim::Blocked(until),
            ClaimUse::NotFound => Claim::NotFound,
        }
    }
}

fn payment(n: usize) -> PaymentResult {
    PaymentResult {
        transaction_id: format!("txn_{n}"),
        amount: PRICE,
        card_brand: "Visa".to_owned(),
        card_last_four: "4242".to_owned(),
        completed_at: at(30),
    }
}

async fn complete(
    store: &impl Store,
    session: &SessionId,
    attempt: u32,
    link: &PaymentLink,
    n: usize,
) -> CompletePayment {
    store.complete_payment(session, attempt, &link.id, &payment(n)).await.expect("complete payment")
}

async fn stored_link(store: &impl Store, id: &LinkId) -> PaymentLink {
    store.get_link(id).await.expect("get link").expect("the link exists")
}

async fn stored_session(store: &impl Store, id: &SessionId) -> CheckoutSession {
    store.get_session(id).await.expect("get session").expect("the session exists")
}

/// The link's use counters: (used, reserved, holders with their hold times).
async fn uses(store: &impl Store, id: &LinkId) -> (u64, u64, Vec<(String, DateTime<Utc>)>) {
    let link = stored_link(store, id).await;
    (link.used, link.reserved, link.claims.into_iter().collect())
}

fn held(session: &SessionId, until: DateTime<Utc>) -> (String, DateTime<Utc>) {
    (session.to_string(), until)
}

async fn attempts_are_numbered_and_one_runs_at_a_time<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, Some(1)).await;
    let session = open_session(store, &link).await;

    let first = store.begin_attempt(&session.id, PRICE, at(1), at(61)).await.expect("begin");
    let first_attempt = PaymentAttempt { number: 1, amount: PRICE, lease_until: at(61), counters: Vec::new() };
    assert_eq!(first, BeginAttempt::Started(first_attempt.clone()));
    let paying = stored_session(store, &session.id).await;
    assert_eq!(
        (paying.status, paying.attempts, paying.in_flight.clone()),
        (SessionStatus::Pending, 1, Some(first_attempt.clone()))
    );

    // A second pay while the first is charging, up to the last nanosecond of its lease.
    for now in [at(2), at(61) - NANO] {
        let second = store.begin_attempt(&session.id, MinorUnits(1), now, now + LEASE).await.expect("begin");
        assert_eq!(second, BeginAttempt::Busy, "at {now}");
    }
    assert_eq!(stored_session(store, &session.id).await, paying, "a refused attempt changes nothing");

    // Once the first is over, the next one gets the next number and its own amount.
    store.end_attempt(&session.id, &first_attempt, AttemptEnd::Declined).await.expect("end attempt");
    let next = store.begin_attempt(&session.id, MinorUnits(3000), at(3), at(63)).await.expect("begin");
    let next_attempt =
        PaymentAttempt { number: 2, amount: MinorUnits(3000), lease_until: at(63), counters: Vec::new() };
    assert_eq!(next, BeginAttempt::Started(next_attempt.clone()));
    let paying = stored_session(store, &session.id).await;
    assert_eq!((paying.attempts, paying.in_flight), (2, Some(next_attempt)));
}

async fn an_attempt_begun_on_a_session_as_read_decides_on_the_session_as_stored<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, Some(1)).await;
    let session = open_session(store, &link).await;
    let as_read = stored_session(store, &session.id).await;

    let first = store.begin_attempt_on(&as_read, PRICE, at(1), at(61), &[]).await.expect("begin");
    let first_attempt = PaymentAttempt { number: 1, amount: PRICE, lease_until: at(61), counters: Vec::new() };
    assert_eq!(first, BeginAttempt::Started(first_attempt.clone()));
    // The copy read before that attempt is stale: the store goes by what is stored.
    let second = store.begin_attempt_on(&as_read, MinorUnits(1), at(2), at(62), &[]).await.expect("begin");
    assert_eq!(second, BeginAttempt::Busy);
    store.end_attempt(&session.id, &first_attempt, AttemptEnd::Declined).await.expect("end attempt");
    let next = store.begin_attempt_on(&as_read, MinorUnits(3000), at(3), at(63), &[]).await.expect("begin");
    let next_attempt =
        PaymentAttempt { number: 2, amount: MinorUnits(3000), lease_until: at(63), counters: Vec::new() };
    assert_eq!(next, BeginAttempt::Started(next_attempt));
    let paying = stored_session(store, &session.id).await;
    assert_eq!((paying.attempts, paying.in_flight.map(|a| a.number)), (2, Some(2)));
}

async fn a_lapsed_attempt_is_taken_over_with_its_number_and_amount<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, Some(1)).await;
    let session = open_session(store, &link).await;
    let lapsed = start(store, &session.id).await;

    // The lease ends at lease_until exactly: the process that held it is presumed dead.
    let taken = store.begin_attempt(&session.id, MinorUnits(999), lapsed.lease_until, at(200)).await.expect("begin");
    let taken_over = PaymentAttempt { lease_until: at(200), ..lapsed.clone() };
    assert_eq!(taken, BeginAttempt::Started(taken_over.clone()), "same number and amount: same idempotency key");
    let session_now = stored_session(store, &session.id).await;
    assert_eq!((session_now.attempts, session_now.in_flight), (1, Some(taken_over)));

    // The new lease is live.
    let again = store.begin_attempt(&session.id, PRICE, at(199), at(300)).await.expect("begin");
    assert_eq!(again, BeginAttempt::Busy);
}

async fn closed_and_unknown_sessions_start_no_attempt<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, Some(1)).await;
    for status in [SessionStatus::Completed, SessionStatus::Failed, SessionStatus::Cancelled] {
        let mut session = CheckoutSession::open(&link, opened());
        session.status = status;
        store.create_session(&session).await.expect("create session");
        let begun = store.begin_attempt(&session.id, PRICE, at(1), at(61)).await.expect("begin");
        assert_eq!(begun, BeginAttempt::Closed(session.clone()), "{status:?}");
        assert_eq!(stored_session(store, &session.id).await, session, "{status:?} session unchanged");
    }

    // Pending but expired: closed from its expiry on, to the nanosecond.
    let expiring = open_session(store, &link).await;
    let expires_at = expiring.expires_at;
    let begun = store.begin_attempt(&expiring.id, PRICE, expires_at, expires_at + LEASE).await.expect("begin");
    assert_eq!(begun, BeginAttempt::Closed(expiring.clone()));
    assert_eq!(stored_session(store, &expiring.id).await, expiring);
    let begun = store.begin_attempt(&expiring.id, PRICE, expires_at - NANO, expires_at + LEASE).await.expect("begin");
    assert!(matches!(begun, BeginAttempt::Started(PaymentAttempt { number: 1, .. })), "{begun:?}");

    let unknown = store.begin_attempt(&SessionId::generate(), PRICE, at(1), at(61)).await.expect("begin");
    assert_eq!(unknown, BeginAttempt::NotFound);
}

async fn limited_links_hold_uses_up_to_the_limit_and_renewals_count_once<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, Some(2)).await;
    let [first, second, third] = [SessionId::generate(), SessionId::generate(), SessionId::generate()];

    assert_eq!(claim(store, &link, &first, at(1)).await, Claim::Claimed);
    assert_eq!(claim(store, &link, &second, at(2)).await, Claim::Claimed);
    assert_eq!(claim(store, &link, &third, at(3)).await, Claim::Unavailable(Unavailable::LimitReached));
    let mut holds = vec![held(&first, at(1) + HOLD), held(&second, at(2) + HOLD)];
    holds.sort();
    assert_eq!(uses(store, &link.id).await, (0, 2, holds));

    // Holding again (a takeover) renews the hold without a second use.
    assert_eq!(claim(store, &link, &first, at(10)).await, Claim::Claimed);
    let mut holds = vec![held(&first, at(10) + HOLD), held(&second, at(2) + HOLD)];
    holds.sort();
    assert_eq!(uses(store, &link.id).await, (0, 2, holds));
    assert_eq!(claim(store, &link, &third, at(11)).await, Claim::Unavailable(Unavailable::LimitReached));
}

async fn lapsed_holds_are_given_back_and_their_uses_claimable_again<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, Some(1)).await;
    let [first, second] = [SessionId::generate(), SessionId::generate()];
    let first_until = at(1) + HOLD;
    assert_eq!(claim(store, &link, &first, at(1)).await, Claim::Claimed);

    // Held up to the last nanosecond; lapsed from its end on.
    let refused = claim_until(store, &link.id, &second, first_until - NANO, at(500)).await;
    assert_eq!(refused, Claim::Unavailable(Unavailable::LimitReached));
    assert_eq!(uses(store, &link.id).await, (0, 1, vec![held(&first, first_until)]));
    let taken = claim_until(store, &link.id, &second, first_until, at(500)).await;
    assert_eq!(taken, Claim::Claimed);
    assert_eq!(uses(store, &link.id).await, (0, 1, vec![held(&second, at(500))]));
    let late = claim_until(store, &link.id, &first, first_until + NANO, at(600)).await;
    assert_eq!(late, Claim::Unavailable(Unavailable::LimitReached), "its use went to another session");

    // A session whose own hold lapsed renews it, even on a full link.
    let renewed = claim_until(store, &link.id, &second, at(700), at(800)).await;
    assert_eq!(renewed, Claim::Claimed);
    assert_eq!(uses(store, &link.id).await, (0, 1, vec![held(&second, at(800))]));

    // Several lapsed holds are all given back at once.
    let link = create_paying_link(store, Some(3)).await;
    let holders = [SessionId::generate(), SessionId::generate(), SessionId::generate()];
    for (n, holder) in holders.iter().enumerate() {
        assert_eq!(claim(store, &link, holder, at(n as i64)).await, Claim::Claimed);
    }
    let newcomer = SessionId::generate();
    assert_eq!(claim(store, &link, &newcomer, at(1000)).await, Claim::Claimed);
    assert_eq!(uses(store, &link.id).await, (0, 1, vec![held(&newcomer, at(1000) + HOLD)]));
}

async fn inactive_expired_and_unknown_links_hold_nothing<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    for usage_limit in [Some(1), None] {
        let mut inactive = link(Cart::Amount { amount: PRICE }, usage_limit);
        inactive.active = false;
        store.create_link(&inactive).await.expect("create link");
        let session = SessionId::generate();
        for now in [at(1), inactive.expires_at] {
            let refused = claim(store, &inactive, &session, now).await;
            assert_eq!(refused, Claim::Unavailable(Unavailable::Inactive), "{usage_limit:?} at {now}");
        }
        assert_eq!(stored_link(store, &inactive.id).await, inactive);

        // Expired from its expiry on, to the nanosecond.
        let expiring = create_paying_link(store, usage_limit).await;
        let refused = claim(store, &expiring, &session, expiring.expires_at).await;
        assert_eq!(refused, Claim::Unavailable(Unavailable::Expired), "{usage_limit:?}");
        assert_eq!(stored_link(store, &expiring.id).await, expiring);
        assert_eq!(claim(store, &expiring, &session, expiring.expires_at - NANO).await, Claim::Claimed);
    }

    let unknown = claim_until(store, &LinkId::generate(), &SessionId::generate(), at(1), at(61)).await;
    assert_eq!(unknown, Claim::NotFound);
}

async fn unlimited_links_hold_nothing_and_count_every_payment<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, None).await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        let session = open_session(store, &link).await;
        assert_eq!(claim(store, &link, &session.id, at(1)).await, Claim::Claimed);
        sessions.push(session);
    }
    assert_eq!(stored_link(store, &link.id).await, link, "nothing held");
    store.release_use(&link.id, &sessions[0].id).await.expect("release");
    assert_eq!(stored_link(store, &link.id).await, link, "nothing to give back");

    for (n, session) in sessions.iter().enumerate() {
        let attempt = start(store, &session.id).await;
        assert_eq!(complete(store, &session.id, attempt.number, &link, n).await, CompletePayment::Completed);
    }
    assert_eq!(uses(store, &link.id).await, (3, 0, vec![]));
}

async fn releasing_gives_the_use_back_once<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, Some(1)).await;
    let [first, second] = [SessionId::generate(), SessionId::generate()];
    assert_eq!(claim(store, &link, &first, at(1)).await, Claim::Claimed);
    assert_eq!(claim(store, &link, &second, at(2)).await, Claim::Unavailable(Unavailable::LimitReached));

    store.release_use(&link.id, &first).await.expect("release");
    assert_eq!(uses(store, &link.id).await, (0, 0, vec![]));
    // Again, and by a session that holds nothing: nothing more is given back.
    store.release_use(&link.id, &first).await.expect("release again");
    store.release_use(&link.id, &second).await.expect("release of no hold");
    assert_eq!(uses(store, &link.id).await, (0, 0, vec![]));

    assert_eq!(claim(store, &link, &second, at(3)).await, Claim::Claimed);
    assert_eq!(uses(store, &link.id).await, (0, 1, vec![held(&second, at(3) + HOLD)]));

    let unknown = LinkId::generate();
    store.release_use(&unknown, &first).await.expect("release on an unknown link");
    assert_eq!(store.get_link(&unknown).await.expect("get link"), None, "no link is made up");
}

async fn completing_turns_the_hold_into_exactly_one_use<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, Some(2)).await;
    let session = open_session(store, &link).await;
    let attempt = start(store, &session.id).await;
    assert_eq!(claim(store, &link, &session.id, at(2)).await, Claim::Claimed);

    assert_eq!(complete(store, &session.id, attempt.number, &link, 1).await, CompletePayment::Completed);
    assert_eq!(uses(store, &link.id).await, (1, 1, vec![]), "the hold became the use");
    let paid = stored_session(store, &session.id).await;
    assert_eq!(paid.status, SessionStatus::Completed);
    assert_eq!(paid.payment, Some(payment(1)));
    assert_eq!((paid.in_flight.clone(), paid.attempts, paid.failure_code), (None, 1, None));

    // A retried completion of the same attempt counts nothing more.
    assert_eq!(complete(store, &session.id, attempt.number, &link, 2).await, CompletePayment::SessionChanged);
    assert_eq!(uses(store, &link.id).await, (1, 1, vec![]));
    assert_eq!(stored_session(store, &session.id).await, paid);
    assert_eq!(
        store.begin_attempt(&session.id, PRICE, at(40), at(100)).await.expect("begin"),
        BeginAttempt::Closed(paid)
    );

    // Another attempt number than the one in flight completes nothing.
    let other = open_session(store, &link).await;
    let other_attempt = start(store, &other.id).await;
    assert_eq!(claim(store, &link, &other.id, at(2)).await, Claim::Claimed);
    let before = stored_session(store, &other.id).await;
    assert_eq!(complete(store, &other.id, other_attempt.number + 1, &link, 3).await, CompletePayment::SessionChanged);
    assert_eq!(stored_session(store, &other.id).await, before);
    assert_eq!(uses(store, &link.id).await, (1, 2, vec![held(&other.id, at(2) + HOLD)]));
}

async fn completing_after_the_hold_lapsed_takes_a_free_use_or_finds_the_link_full<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, Some(1)).await;
    let slow = open_session(store, &link).await;
    let attempt = start(store, &slow.id).await;
    assert_eq!(claim(store, &link, &slow.id, at(1)).await, Claim::Claimed);
    // The slow payment's hold lapses and another session takes the use.
    let other = SessionId::generate();
    assert_eq!(claim(store, &link, &other, at(1) + HOLD).await, Claim::Claimed);

    let before = stored_session(store, &slow.id).await;
    assert_eq!(complete(store, &slow.id, attempt.number, &link, 1).await, CompletePayment::LimitReached);
    assert_eq!(stored_session(store, &slow.id).await, before, "still pending with its attempt: the charge is voided");
    assert_eq!(uses(store, &link.id).await, (0, 1, vec![held(&other, at(1) + HOLD + HOLD)]));

    // Once the use is free again, the late payment takes it.
    store.release_use(&link.id, &other).await.expect("release");
    assert_eq!(complete(store, &slow.id, attempt.number, &link, 1).await, CompletePayment::Completed);
    assert_eq!(uses(store, &link.id).await, (1, 1, vec![]));
    assert_eq!(stored_session(store, &slow.id).await.status, SessionStatus::Completed);
    assert_eq!(claim(store, &link, &other, at(1000)).await, Claim::Unavailable(Unavailable::LimitReached));
}

async fn a_claim_brings_back_the_link_and_completing_from_a_stale_copy_decides_on_the_stored_link<F: Fixture>() {
    use crate::model::EventType::{CheckoutSessionCompleted, PaymentLinkUsageLimitReached};
    let fixture = F::fresh().await;
    let store = fixture.store();
    let claimed = async |link: &PaymentLink, session: &SessionId| match store
        .claim_use(&link.id, session, at(2), at(2) + HOLD)
        .await
        .expect("claim")
    {
        ClaimUse::Claimed(copy) => *copy,
        other => panic!("expected a claim, got {other:?}"),
    };
    for usage_limit in [Some(2), None] {
        let link = create_paying_link(store, usage_limit).await;
        let [first, second, third] =
            [open_session(store, &link).await, open_session(store, &link).await, open_session(store, &link).await];
        let [first_attempt, second_attempt, third_attempt] =
            [start(store, &first.id).await, start(store, &second.id).await, start(store, &third.id).await];
        // The copy is the link as stored right after the claim.
        let first_copy = claimed(&link, &first.id).await;
        assert_eq!(first_copy, stored_link(store, &link.id).await, "{usage_limit:?}");
        let second_copy = claimed(&link, &second.id).await;
        assert_eq!(second_copy, stored_link(store, &link.id).await, "{usage_limit:?}");

        let completed = store.complete_payment_on(&first, &first_attempt, Some(&second_copy), &payment(1)).await;
        assert_eq!(completed.expect("complete"), CompletePayment::Completed);
        // Completing from the first copy, which knows neither the second hold nor the first
        // payment: the stored link decides (the hold becomes the use that fills the link).
        let completed = store.complete_payment_on(&second, &second_attempt, Some(&first_copy), &payment(2)).await;
        assert_eq!(completed.expect("complete"), CompletePayment::Completed, "{usage_limit:?}");
        // Without a copy (and without a hold): the full limited link refuses; the unlimited one
        // counts a third payment, nothing of it read.
        let completed = store.complete_payment_on(&third, &third_attempt, None, &payment(3)).await;
        let (third_completes, used, reserved) = match usage_limit {
            Some(_) => (CompletePayment::LimitReached, 2, 2),
            None => (CompletePayment::Completed, 3, 0),
        };
        assert_eq!(completed.expect("complete"), third_completes, "{usage_limit:?}");
        assert_eq!(uses(store, &link.id).await, (used, reserved, vec![]));
        for session in [&first, &second] {
            assert_eq!(stored_session(store, &session.id).await.status, SessionStatus::Completed);
        }
        let events = store.list_events(&link.merchant_id, None, 10, None, at(60)).await.expect("events").events;
        let of_link = events.iter().filter(|event| event.data.contains(link.id.as_str()));
        let kinds: Vec<_> = of_link.map(|event| event.kind).collect();
        let expected = match usage_limit {
            Some(_) => vec![PaymentLinkUsageLimitReached, CheckoutSessionCompleted, CheckoutSessionCompleted],
            None => vec![CheckoutSessionCompleted; 3],
        };
        assert_eq!(kinds, expected, "{usage_limit:?}");
    }
}

async fn an_attempt_checking_its_link_begins_only_while_the_link_takes_payments<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let begin = async |session: &CheckoutSession, now| {
        store.begin_attempt_checking_link(session, PRICE, now, now + LEASE, &[]).await.expect("begin")
    };
    let link = create_paying_link(store, None).await;
    let session = open_session(store, &link).await;

    // Blocked, then switched off: refused, nothing written.
    store.block_payments(&link.id, at(100)).await.expect("block");
    assert_eq!(begin(&session, at(1)).await, BeginAttempt::LinkRefused(LinkRefusal::Blocked(at(100))));
    store.set_link_active(&link.id, false, None, at(100)).await.expect("switch off");
    let refused = begin(&session, at(100)).await;
    assert_eq!(refused, BeginAttempt::LinkRefused(LinkRefusal::Unavailable(Unavailable::Inactive)));
    assert_eq!(stored_session(store, &session.id).await, session, "a refused begin writes nothing");

    // Switched on again: the attempt begins, numbered as any other.
    store.set_link_active(&link.id, true, None, at(100)).await.expect("switch on");
    let BeginAttempt::Started(attempt) = begin(&session, at(101)).await else { panic!("the attempt starts") };
    assert_eq!((attempt.number, attempt.lease_until), (1, at(101) + LEASE));
    // The session decides first: busy while that attempt runs, whatever the link says.
    store.set_link_active(&link.id, false, None, at(102)).await.expect("switch off");
    assert_eq!(begin(&session, at(102)).await, BeginAttempt::Busy);
}

async fn completing_an_unknown_session_changes_nothing<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, Some(1)).await;
    let unknown = SessionId::generate();
    assert_eq!(complete(store, &unknown, 1, &link, 1).await, CompletePayment::SessionChanged);
    assert_eq!(stored_link(store, &link.id).await, link);
    assert_eq!(store.get_session(&unknown).await.expect("get session"), None, "no session is made up");
}

async fn a_declined_attempt_leaves_the_session_open<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, Some(1)).await;
    let session = open_session(store, &link).await;
    let attempt = start(store, &session.id).await;

    store.end_attempt(&session.id, &attempt, AttemptEnd::Declined).await.expect("end attempt");
    let declined = stored_session(store, &session.id).await;
    assert_eq!(declined, CheckoutSession { attempts: 1, ..session.clone() }, "pending, nothing in flight");

    // Ending it again, even as a failure, changes nothing: it is over.
    let failure = AttemptEnd::Failed { failure_code: FailureCode::SystemError, at: at(5) };
    store.end_attempt(&session.id, &attempt, failure.clone()).await.expect("end attempt again");
    assert_eq!(stored_session(store, &session.id).await, declined);

    let unknown = SessionId::generate();
    store.end_attempt(&unknown, &attempt, failure).await.expect("end attempt of an unknown session");
    assert_eq!(store.get_session(&unknown).await.expect("get session"), None, "no session is made up");
}

async fn a_declined_attempt_ends_and_gives_its_hold_back_in_one_decision<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    for usage_limit in [Some(3), None] {
        let link = create_paying_link(store, usage_limit).await;
        let [held, lapsed, over] =
            [open_session(store, &link).await, open_session(store, &link).await, open_session(store, &link).await];
        let mut attempts = Vec::new();
        for session in [&held, &lapsed, &over] {
            let attempt = start(store, &session.id).await;
            if usage_limit.is_some() {
                assert_eq!(claim(store, &link, &session.id, at(2)).await, Claim::Claimed);
            }
            attempts.push(attempt);
        }

        // The attempt ends and the hold goes.
        let ended = store.decline_attempt(&held, attempts[0].number, DeclineReason::InsufficientFunds).await;
        assert!(ended.expect("decline"), "{usage_limit:?}: this call ended it");
        let declined =
            CheckoutSession { attempts: 1, last_decline: Some(DeclineReason::InsufficientFunds), ..held.clone() };
        assert_eq!(stored_session(store, &held.id).await, declined, "pending, nothing in flight, why it was declined");
        let holders: Vec<String> = uses(store, &link.id).await.2.into_iter().map(|(holder, _)| holder).collect();
        assert!(!holders.contains(&held.id.to_string()), "{usage_limit:?}: the hold is given back");

        // A hold already given back (it lapsed and another claim took it back): the rest goes.
        store.release_use(&link.id, &lapsed.id).await.expect("release");
        let ended = store.decline_attempt(&lapsed, attempts[1].number, DeclineReason::InsufficientFunds).await;
        assert!(ended.expect("decline"), "{usage_limit:?}: ended, its hold gone already");
        let again = store.decline_attempt(&lapsed, attempts[1].number, DeclineReason::InsufficientFunds).await;
        assert!(!again.expect("decline again"), "{usage_limit:?}: reported twice, ended once");
        assert_eq!(stored_session(store, &lapsed.id).await.in_flight, None, "{usage_limit:?}");

        // An attempt over already stays as it is, and so does the session's hold (a newer
        // attempt's, for all the store can tell).
        let failure = AttemptEnd::Failed { failure_code: FailureCode::SystemError, at: at(3) };
        store.end_attempt(&over.id, &attempts[2], failure).await.expect("fail");
        let failed = stored_session(store, &over.id).await;
        let ended = store.decline_attempt(&over, attempts[2].number, DeclineReason::InsufficientFunds).await;
        assert!(!ended.expect("decline"), "{usage_limit:?}: over already");
        assert_eq!(stored_session(store, &over.id).await, failed, "{usage_limit:?}");
        let (_, reserved, holds) = uses(store, &link.id).await;
        let holders: Vec<String> = holds.into_iter().map(|(holder, _)| holder).collect();
        let kept: Vec<String> = usage_limit.map(|_| over.id.to_string()).into_iter().collect();
        assert_eq!(
            (reserved, holders),
            (kept.len() as u64, kept),
            "{usage_limit:?}: only the ended attempts' holds go"
        );
    }
}

/// A limit of 2 on a counter of its own, its window ending at `at(600)`.
fn limit_of_two(name: &str) -> CounterLimit {
    CounterLimit { counter: RateCounter { name: name.to_owned(), window_end: at(600) }, limit: 2 }
}

/// A limit of `limit` on a counter of its own, its window ending at `at(60)`: a second limit,
/// as a link's unsettled attempts go with a client's declines.
fn minute_limit(name: &str, limit: u64) -> CounterLimit {
    CounterLimit { counter: RateCounter { name: name.to_owned(), window_end: at(60) }, limit }
}

/// Begins an attempt on `session` at `now` within `limits`, as a pay does: checking the link
/// when it has no usage limit.
async fn begin_within(
    store: &impl Store,
    session: &CheckoutSession,
    now: DateTime<Utc>,
    limits: &[CounterLimit],
) -> BeginAttempt {
    let begun = match session.link_has_usage_limit {
        true => store.begin_attempt_on(session, PRICE, now, now + LEASE, limits).await,
        false => store.begin_attempt_checking_link(session, PRICE, now, now + LEASE, limits).await,
    };
    begun.expect("begin")
}

/// The counts of `limits`' counters, in their order.
async fn counts(store: &impl Store, limits: &[CounterLimit]) -> Vec<u64> {
    let mut counts = Vec::new();
    for limit in limits {
        counts.push(store.read_counter(&limit.counter.name).await.expect("read counter"));
    }
    counts
}

async fn an_attempt_counts_on_its_limits_from_its_start_and_only_a_decline_keeps_the_counts<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    for usage_limit in [Some(10), None] {
        let limits = [
            limit_of_two(&format!("declines:client:contract-{usage_limit:?}:1")),
            minute_limit(&format!("attempts:link:contract-{usage_limit:?}:1"), 10),
        ];
        let count = async || counts(store, &limits).await;
        let link = create_paying_link(store, usage_limit).await;
        let mut sessions = Vec::new();
        for _ in 0..5 {
            sessions.push(open_session(store, &link).await);
        }
        let started = async |session: &CheckoutSession, now| match begin_within(store, session, now, &limits).await {
            BeginAttempt::Started(attempt) => attempt,
            other => panic!("{usage_limit:?}: expected the attempt to start, got {other:?}"),
        };

        // Each attempt counts on every limit from its start, and carries their counters.
        let paid = started(&sessions[0], at(1)).await;
        assert_eq!(paid.counters, [limits[0].counter.clone(), limits[1].counter.clone()]);
        let declined = started(&sessions[1], at(1)).await;
        assert_eq!(count().await, [2, 2], "{usage_limit:?}");
        // At one limit: refused until its window ends, nothing written on either.
        let refused = begin_within(store, &sessions[2], at(2), &limits).await;
        assert_eq!(refused, BeginAttempt::TooManyAttempts(at(600)), "{usage_limit:?}");
        assert_eq!(stored_session(store, &sessions[2].id).await, sessions[2], "{usage_limit:?}");
        assert_eq!(count().await, [2, 2], "{usage_limit:?}");

        // A payment gives the counts back; a decline keeps them.
        let completed = store.complete_payment_on(&sessions[0], &paid, None, &payment(1)).await.expect("complete");
        assert_eq!(completed, CompletePayment::Completed);
        assert_eq!(count().await, [1, 1], "{usage_limit:?}: paid");
        store.decline_attempt(&sessions[1], declined.number, DeclineReason::Declined).await.expect("decline");
        assert_eq!(count().await, [1, 1], "{usage_limit:?}: declined");

        // Ended otherwise (refused by the link, failed): given back, once.
        let refused_claim = started(&sessions[2], at(3)).await;
        assert_eq!(count().await, [2, 2]);
        store.end_attempt(&sessions[2].id, &refused_claim, AttemptEnd::Declined).await.expect("end");
        assert_eq!(count().await, [1, 1], "{usage_limit:?}: ended");
        let failed = started(&sessions[3], at(4)).await;
        let failure = AttemptEnd::Failed { failure_code: FailureCode::SystemError, at: at(4) };
        store.end_attempt(&sessions[3].id, &failed, failure.clone()).await.expect("fail");
        store.end_attempt(&sessions[3].id, &failed, failure).await.expect("fail again");
        store.end_attempt(&sessions[2].id, &refused_claim, AttemptEnd::Declined).await.expect("end again");
        assert_eq!(count().await, [1, 1], "{usage_limit:?}: failed, and nothing given back twice");

        // A taken-over attempt counted when it began: it begins at the limit and counts nothing.
        let lapsing = started(&sessions[4], at(5)).await;
        assert_eq!(count().await, [2, 2]);
        let taken = begin_within(store, &sessions[4], lapsing.lease_until, &limits).await;
        let taken_over = PaymentAttempt { lease_until: lapsing.lease_until + LEASE, ..lapsing.clone() };
        assert_eq!(taken, BeginAttempt::Started(taken_over.clone()), "{usage_limit:?}");
        assert_eq!(count().await, [2, 2], "{usage_limit:?}: taken over");
        // Its lease lapses and the customer cancels (nothing was charged): given back.
        let cancelled = store.cancel_session(&sessions[4].id, taken_over.lease_until).await.expect("cancel");
        assert_eq!(
            cancelled.map(|session| (session.status, session.in_flight)),
            Some((SessionStatus::Cancelled, None))
        );
        assert_eq!(count().await, [1, 1], "{usage_limit:?}: cancelled");
    }
}

async fn an_attempt_is_refused_by_whichever_of_its_limits_is_full<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    for usage_limit in [Some(10), None] {
        let roomy = limit_of_two(&format!("declines:client:either-{usage_limit:?}:1"));
        let full = minute_limit(&format!("attempts:link:either-{usage_limit:?}:1"), 1);
        let link = create_paying_link(store, usage_limit).await;
        let first = open_session(store, &link).await;
        let begun = begin_within(store, &first, at(1), &[roomy.clone(), full.clone()]).await;
        assert!(matches!(begun, BeginAttempt::Started(_)), "{usage_limit:?}: {begun:?}");
        // Whichever place the full one has, the refusal is its, and nothing is counted.
        let second = open_session(store, &link).await;
        for limits in [[roomy.clone(), full.clone()], [full.clone(), roomy.clone()]] {
            let refused = begin_within(store, &second, at(2), &limits).await;
            assert_eq!(refused, BeginAttempt::TooManyAttempts(at(60)), "{usage_limit:?}");
        }
        assert_eq!(counts(store, &[roomy, full]).await, [1, 1], "{usage_limit:?}");
        assert_eq!(stored_session(store, &second.id).await, second, "{usage_limit:?}");
    }
}

async fn racing_attempts_within_a_limit_let_exactly_the_limit_begin<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let limit = CounterLimit { limit: 5, ..limit_of_two("declines:client:racing:1") };
    for usage_limit in [Some(20), None] {
        let link = create_paying_link(store, usage_limit).await;
        let mut racers = JoinSet::new();
        for _ in 0..12 {
            let (store, session, limit) = (store.clone(), open_session(store, &link).await, limit.clone());
            racers.spawn(async move { begin_within(&store, &session, at(1), &[limit]).await });
        }
        let (mut started, mut refused) = (0, 0);
        while let Some(begun) = racers.join_next().await {
            match begun.expect("racer") {
                BeginAttempt::Started(_) => started += 1,
                BeginAttempt::TooManyAttempts(until) if until == at(600) => refused += 1,
                other => panic!("{usage_limit:?}: unexpected {other:?}"),
            }
        }
        // The first round fills the limit; the second finds it full.
        let expected = if usage_limit.is_some() { (5, 7) } else { (0, 12) };
        assert_eq!((started, refused), expected, "{usage_limit:?}");
    }
    assert_eq!(store.read_counter(&limit.counter.name).await.expect("read counter"), 5);
}

async fn a_session_is_created_within_its_limit_or_not_at_all<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, None).await;
    let limit = limit_of_two("opens:client:within:1");
    let count = async || store.read_counter(&limit.counter.name).await.expect("read counter");
    let sessions: Vec<_> = (0..3).map(|_| CheckoutSession::open(&link, opened())).collect();
    for session in &sessions[..2] {
        assert!(store.create_session_within(session, &limit).await.expect("create"), "within the limit");
        assert_eq!(&stored_session(store, &session.id).await, session);
    }
    assert_eq!(count().await, 2);
    // At the limit: refused, nothing written.
    assert!(!store.create_session_within(&sessions[2], &limit).await.expect("create"), "at the limit");
    assert_eq!(store.get_session(&sessions[2].id).await.expect("get"), None);
    assert_eq!(count().await, 2);
    // A session that exists already is a conflict, and counts nothing.
    let roomy = CounterLimit { limit: 10, ..limit.clone() };
    let again = store.create_session_within(&sessions[0], &roomy).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(count().await, 2);
}

async fn racing_opens_within_a_limit_create_exactly_the_limit<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, None).await;
    let limit = CounterLimit { limit: 5, ..limit_of_two("opens:client:racing:1") };
    let mut racers = JoinSet::new();
    for _ in 0..12 {
        let (store, session, limit) = (store.clone(), CheckoutSession::open(&link, opened()), limit.clone());
        racers.spawn(async move { (store.create_session_within(&session, &limit).await.expect("create"), session) });
    }
    let mut created = 0;
    while let Some(raced) = racers.join_next().await {
        let (made, session) = raced.expect("racer");
        assert_eq!(store.get_session(&session.id).await.expect("get").is_some(), made, "stored only if created");
        created += usize::from(made);
    }
    assert_eq!(created, 5);
    assert_eq!(store.read_counter(&limit.counter.name).await.expect("read counter"), 5);
}

async fn a_failed_attempt_fails_the_session<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, Some(1)).await;
    let session = open_session(store, &link).await;
    let attempt = start(store, &session.id).await;
    let failure = || AttemptEnd::Failed { failure_code: FailureCode::SessionFailed, at: at(5) };

    // Not the attempt in flight: nothing happens.
    let another = PaymentAttempt { number: attempt.number + 1, ..attempt.clone() };
    store.end_attempt(&session.id, &another, failure()).await.expect("end another attempt");
    let paying = stored_session(store, &session.id).await;
    assert_eq!(paying.in_flight, Some(attempt.clone()));

    store.end_attempt(&session.id, &attempt, failure()).await.expect("end attempt");
    let failed = stored_session(store, &session.id).await;
    assert_eq!(
        failed,
        CheckoutSession {
            status: SessionStatus::Failed,
            failure_code: Some(FailureCode::SessionFailed),
            attempts: 1,
            ..session.clone()
        }
    );
    assert_eq!(
        store.begin_attempt(&session.id, PRICE, at(5), at(65)).await.expect("begin"),
        BeginAttempt::Closed(failed)
    );
}

async fn only_pending_sessions_not_being_paid_are_cancelled<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, Some(1)).await;

    let pending = open_session(store, &link).await;
    let cancelled = CheckoutSession { status: SessionStatus::Cancelled, ..pending.clone() };
    assert_eq!(store.cancel_session(&pending.id, at(1)).await.expect("cancel"), Some(cancelled.clone()));
    assert_eq!(stored_session(store, &pending.id).await, cancelled);
    assert_eq!(store.cancel_session(&pending.id, at(2)).await.expect("cancel again"), Some(cancelled.clone()));
    let begun = store.begin_attempt(&pending.id, PRICE, at(3), at(63)).await.expect("begin");
    assert_eq!(begun, BeginAttempt::Closed(cancelled));

    // Being paid: not cancelled while the attempt's lease runs; cancelled once it lapsed.
    let paying = open_session(store, &link).await;
    let attempt = start(store, &paying.id).await;
    let being_paid = stored_session(store, &paying.id).await;
    let refused = store.cancel_session(&paying.id, attempt.lease_until - NANO).await.expect("cancel");
    assert_eq!(refused, Some(being_paid.clone()));
    assert_eq!(stored_session(store, &paying.id).await, being_paid);
    let abandoned = CheckoutSession { status: SessionStatus::Cancelled, in_flight: None, ..being_paid };
    let cancelled = store.cancel_session(&paying.id, attempt.lease_until).await.expect("cancel");
    assert_eq!(cancelled, Some(abandoned.clone()));
    assert_eq!(stored_session(store, &paying.id).await, abandoned);

    // Completed or expired: left as they are.
    let mut completed = CheckoutSession::open(&link, opened());
    completed.status = SessionStatus::Completed;
    completed.payment = Some(payment(1));
    store.create_session(&completed).await.expect("create session");
    assert_eq!(store.cancel_session(&completed.id, at(1)).await.expect("cancel"), Some(completed.clone()));
    assert_eq!(stored_session(store, &completed.id).await, completed);
    let expired = open_session(store, &link).await;
    let refused = store.cancel_session(&expired.id, expired.expires_at).await.expect("cancel");
    assert_eq!(refused, Some(expired.clone()));
    assert_eq!(stored_session(store, &expired.id).await.status_at(expired.expires_at), SessionStatus::Expired);

    assert_eq!(store.cancel_session(&SessionId::generate(), at(1)).await.expect("cancel"), None);
}

async fn only_a_completed_session_paid_by_the_refunded_payment_is_marked_refunded<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, None).await;
    let mut completed = CheckoutSession::open(&link, opened());
    completed.status = SessionStatus::Completed;
    completed.payment = Some(payment(1));
    store.create_session(&completed).await.expect("create session");

    // Another payment's refund changes nothing.
    assert_eq!(store.mark_refunded(&completed.id, "txn_2", at(40)).await.expect("refund"), Some(completed.clone()));
    assert_eq!(stored_session(store, &completed.id).await, completed);
    let refunded = CheckoutSession { status: SessionStatus::Refunded, ..completed.clone() };
    assert_eq!(store.mark_refunded(&completed.id, "txn_1", at(40)).await.expect("refund"), Some(refunded.clone()));
    assert_eq!(stored_session(store, &completed.id).await, refunded);
    // Told twice (Stripe retries): the same.
    assert_eq!(store.mark_refunded(&completed.id, "txn_1", at(40)).await.expect("refund again"), Some(refunded));

    // An unpaid session is never "refunded"; an unknown one is None.
    let pending = open_session(store, &link).await;
    assert_eq!(store.mark_refunded(&pending.id, "txn_1", at(40)).await.expect("refund"), Some(pending.clone()));
    assert_eq!(store.mark_refunded(&SessionId::generate(), "txn_1", at(40)).await.expect("refund"), None);
}

async fn payments_the_payment_that_fills_a_link_and_refunds_write_their_events_with_them<F: Fixture>() {
    use crate::model::EventType::{CheckoutSessionCompleted, CheckoutSessionRefunded, PaymentLinkUsageLimitReached};
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, Some(2)).await;
    let merchant = link.merchant_id.clone();
    let listed = async |kind, limit, before: Option<&EventId>, now| {
        store.list_events(&merchant, kind, limit, before, now).await.expect("list events")
    };
    let kinds = |page: &EventPage| page.events.iter().map(|event| event.kind).collect::<Vec<_>>();
    assert_eq!(listed(None, 10, None, at(60)).await, EventPage { events: vec![], next: None });

    let pay = async |n: usize| {
        let session = open_session(store, &link).await;
        let attempt = start(store, &session.id).await;
        assert_eq!(claim(store, &link, &session.id, at(2)).await, Claim::Claimed);
        assert_eq!(complete(store, &session.id, attempt.number, &link, n).await, CompletePayment::Completed);
        (session, attempt)
    };
    let (first, attempt) = pay(1).await;
    let page = listed(None, 10, None, at(60)).await;
    assert_eq!(kinds(&page), [CheckoutSessionCompleted]);
    let event = &page.events[0];
    assert_eq!((event.merchant_id.as_str(), event.created_at), (merchant.as_str(), at(30)));
    let data: serde_json::Value = serde_json::from_str(&event.data).expect("JSON data");
    assert_eq!(data["sessionId"], first.id.as_str());
    assert_eq!(data["paymentLinkId"], link.id.as_str());
    assert_eq!(
        (&data["amount"], &data["currency"], &data["transactionId"]),
        (&"25.00".into(), &link.checkout.currency.code().into(), &"txn_1".into())
    );
    assert_eq!(data["metadata"], serde_json::from_str::<serde_json::Value>(&link.checkout.metadata).unwrap());

    // A completion that is refused (the session is paid already) writes no event.
    assert_eq!(complete(store, &first.id, attempt.number, &link, 9).await, CompletePayment::SessionChanged);
    assert_eq!(listed(None, 10, None, at(60)).await.events.len(), 1);

    // The payment that fills the link writes both, newest first.
    pay(2).await;
    let page = listed(None, 10, None, at(60)).await;
    assert_eq!(kinds(&page), [PaymentLinkUsageLimitReached, CheckoutSessionCompleted, CheckoutSessionCompleted]);

    // One kind at a time, a page at a time, each page filled.
    let only = listed(Some(CheckoutSessionCompleted), 1, None, at(60)).await;
    assert_eq!(kinds(&only), [CheckoutSessionCompleted]);
    let rest = listed(Some(CheckoutSessionCompleted), 1, only.next.as_ref(), at(60)).await;
    assert_eq!((kinds(&rest), rest.next), (vec![CheckoutSessionCompleted], None));
    assert_ne!(only.events[0].id, rest.events[0].id);

    // A refund writes its event once, however often it is reported.
    store.mark_refunded(&first.id, "txn_1", at(40)).await.expect("refund");
    store.mark_refunded(&first.id, "txn_1", at(41)).await.expect("refund again");
    let refunds = listed(Some(CheckoutSessionRefunded), 10, None, at(60)).await;
    assert_eq!(kinds(&refunds), [CheckoutSessionRefunded]);
    assert_eq!(refunds.events[0].created_at, at(40));

    // Listed for 30 days.
    assert_eq!(listed(None, 10, None, at(30) + Event::KEPT - NANO).await.events.len(), 4);
    assert_eq!(listed(None, 10, None, at(40) + Event::KEPT).await.events.len(), 0);
}

async fn a_failed_session_and_switching_off_an_active_link_write_their_events<F: Fixture>() {
    use crate::model::EventType::{CheckoutSessionFailed, PaymentLinkDeactivated};
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, None).await;
    let events = async || {
        let page = store.list_events(&link.merchant_id, None, 10, None, at(60)).await.expect("list");
        page.events
            .into_iter()
            .map(|e| (e.kind, serde_json::from_str::<serde_json::Value>(&e.data).unwrap()))
            .collect::<Vec<_>>()
    };

    let session = open_session(store, &link).await;
    let attempt = start(store, &session.id).await;
    let failed = AttemptEnd::Failed { failure_code: FailureCode::SystemError, at: at(5) };
    store.end_attempt(&session.id, &attempt, failed.clone()).await.expect("fail");
    // Told again (the attempt is over): nothing more.
    store.end_attempt(&session.id, &attempt, failed).await.expect("fail again");
    let written = events().await;
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(written[0].0, CheckoutSessionFailed);
    assert_eq!(
        (&written[0].1["sessionId"], &written[0].1["failureCode"]),
        (&session.id.as_str().into(), &"SYSTEM_ERROR".into())
    );

    // Off by the merchant, off again (already off: no event), on, paused by the service.
    store.set_link_active(&link.id, false, None, at(6)).await.expect("off");
    store.set_link_active(&link.id, false, None, at(7)).await.expect("off again");
    store.set_link_active(&link.id, true, None, at(8)).await.expect("on");
    let paused = store.set_link_active(&link.id, false, Some("card testing"), at(9)).await.expect("paused");
    assert_eq!(paused.map(|l| (l.active, l.pause_reason)), Some((false, Some("card testing".to_owned()))));
    let written = events().await;
    let kinds: Vec<_> = written.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(kinds, [PaymentLinkDeactivated, PaymentLinkDeactivated, CheckoutSessionFailed]);
    assert_eq!((&written[0].1["pausedAutomatically"], &written[0].1["reason"]), (&true.into(), &"card testing".into()));
    assert_eq!(
        (&written[1].1["pausedAutomatically"], &written[1].1["reason"]),
        (&false.into(), &serde_json::Value::Null)
    );
}

fn endpoint(n: usize) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookEndpointId::generate(),
        url: format!("https://shop.example/hooks/{n}"),
        events: vec![],
        description: Some(format!("endpoint {n}")),
        secret: format!("whsec_{n}"),
        previous_secret: None,
        previous_secret_until: None,
        failing_since: None,
        disabled_reason: None,
        created_at: at(n as i64),
    }
}

async fn webhook_endpoints_are_added_listed_and_removed_up_to_the_limit<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    assert_eq!(store.webhook_endpoints("m_hooks").await.expect("endpoints"), vec![]);
    let all: Vec<WebhookEndpoint> = (0..WebhookEndpoint::MAX_PER_MERCHANT).map(endpoint).collect();
    for one in &all {
        assert!(store.add_webhook_endpoint("m_hooks", one).await.expect("add"));
    }
    assert!(!store.add_webhook_endpoint("m_hooks", &endpoint(99)).await.expect("add one too many"));
    assert_eq!(store.webhook_endpoints("m_hooks").await.expect("endpoints"), all);
    assert_eq!(store.webhook_endpoints("m_other").await.expect("endpoints"), vec![], "another merchant's");

    assert!(store.remove_webhook_endpoint("m_hooks", &all[3].id).await.expect("remove"));
    assert!(!store.remove_webhook_endpoint("m_hooks", &all[3].id).await.expect("remove again"));
    assert!(!store.remove_webhook_endpoint("m_other", &all[4].id).await.expect("not theirs"));
    let left: Vec<WebhookEndpoint> = all.iter().filter(|e| e.id != all[3].id).cloned().collect();
    assert_eq!(store.webhook_endpoints("m_hooks").await.expect("endpoints"), left);
    assert!(store.add_webhook_endpoint("m_hooks", &endpoint(99)).await.expect("room again"));

    let rotated = all[5].clone().rotated("whsec_new".to_owned(), at(50));
    assert!(store.replace_webhook_endpoint("m_hooks", &rotated).await.expect("replace"));
    assert!(!store.replace_webhook_endpoint("m_other", &rotated).await.expect("not theirs"));
    let stored = store.webhook_endpoints("m_hooks").await.expect("endpoints");
    assert_eq!(stored.iter().find(|e| e.id == rotated.id), Some(&rotated));
    assert_eq!(rotated.signing_secrets(at(50)), ["whsec_new", "whsec_5"]);
    assert_eq!(rotated.signing_secrets(at(50) + WebhookEndpoint::ROTATION_OVERLAP), ["whsec_new"]);

    // The dispatcher read the endpoint before the rotation; its finding that the endpoint fails
    // is recorded, the rotation kept.
    let failing = WebhookEndpoint { failing_since: Some(at(60)), ..all[5].clone() };
    assert!(store.record_webhook_endpoint_health("m_hooks", &failing).await.expect("health"));
    assert!(!store.record_webhook_endpoint_health("m_other", &failing).await.expect("not theirs"));
    let stored = store.webhook_endpoints("m_hooks").await.expect("endpoints");
    let stored = stored.iter().find(|e| e.id == rotated.id).expect("still there");
    assert_eq!(stored, &WebhookEndpoint { failing_since: Some(at(60)), ..rotated.clone() });
}

/// A link paid once at `at(30)`: its payment's event is written then.
async fn a_paid_link(store: &impl Store) -> PaymentLink {
    let link = create_paying_link(store, None).await;
    let session = open_session(store, &link).await;
    let attempt = start(store, &session.id).await;
    assert_eq!(complete(store, &session.id, attempt.number, &link, 1).await, CompletePayment::Completed);
    link
}

async fn every_event_is_due_when_written_and_stays_due_until_its_deliveries_are_done<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = a_paid_link(store).await;
    // Written at at(30), due then.
    assert_eq!(store.due_events(at(30) - NANO, 10).await.expect("due"), vec![]);
    let due = store.due_events(at(30), 10).await.expect("due");
    assert_eq!(due.len(), 1);
    let mut event = due[0].clone();
    assert_eq!((event.due_at, event.deliveries.len()), (Some(at(30)), 0));

    // One endpoint failed, to be tried again at at(35): due again then, not before.
    let mut delivery = Delivery::default();
    delivery.record_attempt(at(30), Some(500), 250, |_| Some(at(35)));
    event.deliveries.insert("we_1".to_owned(), delivery.clone());
    event.due_at = Some(at(35));
    assert!(store.record_deliveries(&event).await.expect("record"));
    event.revision += 1;
    assert_eq!(store.due_events(at(34), 10).await.expect("due"), vec![]);
    assert_eq!(store.due_events(at(35), 10).await.expect("due"), vec![event.clone()]);

    // Delivered: never due again, and listed as it was, with both attempts in its log.
    delivery.record_attempt(at(35), Some(200), 40, |_| None);
    assert_eq!((delivery.attempts, delivery.delivered, delivery.history.len()), (2, true, 2));
    event.deliveries.insert("we_1".to_owned(), delivery);
    event.due_at = None;
    assert!(store.record_deliveries(&event).await.expect("record"));
    event.revision += 1;
    assert_eq!(store.due_events(at(30) + TimeDelta::days(29), 10).await.expect("due"), vec![]);
    let listed = store.list_events(&link.merchant_id, None, 10, None, at(40)).await.expect("list");
    assert_eq!(listed.events, vec![event]);
}

/// The dispatcher records a round from the event it read when the round began; a redelivery
/// recorded meanwhile must not be undone by that older copy (the redelivery would answer 202
/// and send nothing).
async fn a_record_of_deliveries_from_an_older_read_is_refused<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    a_paid_link(store).await;
    let read = store.due_events(at(30), 10).await.expect("due").remove(0);

    let mut delivered = Delivery::default();
    delivered.record_attempt(at(30), Some(200), 40, |_| None);
    let mut dispatched = read.clone();
    dispatched.deliveries.insert("we_1".to_owned(), delivered);
    dispatched.due_at = None;
    let redelivered = Event { due_at: Some(at(31)), ..read.clone() };

    assert!(store.record_deliveries(&redelivered).await.expect("record"), "the first record from the read");
    assert!(!store.record_deliveries(&dispatched).await.expect("record"), "a second from the same read");
    let stored = store.get_event(&read.id).await.expect("read").expect("stored");
    assert_eq!(stored, Event { revision: read.revision + 1, ..redelivered });
    assert_eq!(store.due_events(at(31), 10).await.expect("due"), vec![stored.clone()], "still due");
    // Read again, the dispatcher's record goes in.
    let again = Event { due_at: None, ..stored };
    assert!(store.record_deliveries(&again).await.expect("record"));
    assert_eq!(store.due_events(at(40), 10).await.expect("due"), vec![]);
}

async fn the_first_charge_record_under_a_key_wins_and_can_be_voided<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let key = format!("{}:1", SessionId::generate());
    let original = ChargeRecord {
        idempotency_key: key.clone(),
        amount: PRICE,
        currency: "EUR".parse().expect("EUR"),
        outcome: ChargeOutcome::Approved {
            transaction_id: "txn_first".to_owned(),
            card_brand: "Visa".to_owned(),
            card_last_four: "4242".to_owned(),
        },
        voided: false,
        created_at: at(1),
    };
    assert_eq!(store.get_charge(&key).await.expect("get charge"), None);
    assert_eq!(store.record_charge(&original).await.expect("record charge"), original);

    let retry = ChargeRecord {
        amount: MinorUnits(1),
        outcome: ChargeOutcome::Declined { reason: DeclineReason::InsufficientFunds },
        created_at: at(2),
        ..original.clone()
    };
    assert_eq!(store.record_charge(&retry).await.expect("record again"), original, "the first record wins");
    assert_eq!(store.get_charge(&key).await.expect("get charge"), Some(original.clone()));

    store.void_charge(&key).await.expect("void");
    let voided = ChargeRecord { voided: true, ..original };
    assert_eq!(store.get_charge(&key).await.expect("get charge"), Some(voided.clone()));
    assert_eq!(store.record_charge(&retry).await.expect("record after void"), voided);

    let unknown = format!("{}:1", SessionId::generate());
    store.void_charge(&unknown).await.expect("void an unknown charge");
    assert_eq!(store.get_charge(&unknown).await.expect("get charge"), None, "no charge is made up");
}

const PAYERS: usize = 50;
const LIMIT: u64 = 5;

async fn racing_payments_never_oversell_a_limited_link<F: Fixture>() {
    let fixture = F::fresh().await;
    let link = create_paying_link(fixture.store(), Some(LIMIT)).await;
    let mut sessions = Vec::new();
    for _ in 0..PAYERS {
        sessions.push(open_session(fixture.store(), &link).await);
    }

    let mut payers = JoinSet::new();
    for (n, session) in sessions.iter().enumerate() {
        let (store, link, session) = (fixture.store().clone(), link.clone(), session.id.clone());
        payers.spawn(async move {
            let attempt = start(&store, &session).await;
            match claim(&store, &link, &session, at(2)).await {
                Claim::Claimed => Ok(complete(&store, &session, attempt.number, &link, n).await),
                refused => {
                    store.release_use(&link.id, &session).await.expect("release");
                    store.end_attempt(&session, &attempt, AttemptEnd::Declined).await.expect("end attempt");
                    Err(refused)
                }
            }
        });
    }
    let outcomes = payers.join_all().await;

    let completed = outcomes.iter().filter(|o| **o == Ok(CompletePayment::Completed)).count();
    let refused = outcomes.iter().filter(|o| **o == Err(Claim::Unavailable(Unavailable::LimitReached))).count();
    assert_eq!((completed, refused), (LIMIT as usize, PAYERS - LIMIT as usize), "{outcomes:?}");
    assert_eq!(uses(fixture.store(), &link.id).await, (LIMIT, LIMIT, vec![]));
    let mut paid = 0;
    for session in &sessions {
        paid += usize::from(stored_session(fixture.store(), &session.id).await.status == SessionStatus::Completed);
    }
    assert_eq!(paid, LIMIT as usize);
}

async fn racing_completions_without_holds_never_oversell_a_limited_link<F: Fixture>() {
    let fixture = F::fresh().await;
    let link = create_paying_link(fixture.store(), Some(LIMIT)).await;
    let mut sessions = Vec::new();
    for _ in 0..PAYERS {
        sessions.push(open_session(fixture.store(), &link).await);
    }

    // Every hold lapsed and was given back: each completion must take a free use.
    let mut payers = JoinSet::new();
    for (n, session) in sessions.iter().enumerate() {
        let (store, link, session) = (fixture.store().clone(), link.clone(), session.id.clone());
        payers.spawn(async move {
            let attempt = start(&store, &session).await;
            complete(&store, &session, attempt.number, &link, n).await
        });
    }
    let outcomes = payers.join_all().await;

    let count = |wanted: CompletePayment| outcomes.iter().filter(|o| **o == wanted).count();
    let counts = (count(CompletePayment::Completed), count(CompletePayment::LimitReached));
    assert_eq!(counts, (LIMIT as usize, PAYERS - LIMIT as usize), "{outcomes:?}");
    assert_eq!(uses(fixture.store(), &link.id).await, (LIMIT, LIMIT, vec![]));
    let mut paid = 0;
    for session in &sessions {
        let session = stored_session(fixture.store(), &session.id).await;
        match session.status {
            SessionStatus::Completed => paid += 1,
            SessionStatus::Pending => assert!(session.in_flight.is_some(), "refused: still in flight to be voided"),
            other => panic!("unexpected status {other:?}"),
        }
    }
    assert_eq!(paid, LIMIT as usize);
}

const CLICKS: usize = 10;

async fn racing_attempts_on_one_session_let_exactly_one_start<F: Fixture>() {
    let fixture = F::fresh().await;
    let link = create_paying_link(fixture.store(), Some(1)).await;
    let session = open_session(fixture.store(), &link).await;

    // A double-clicked pay button, then a takeover of its lapsed attempt by impatient retries.
    for (now, wanted) in [(at(1), 1), (at(100), 1)] {
        let mut clicks = JoinSet::new();
        for _ in 0..CLICKS {
            let (store, session) = (fixture.store().clone(), session.id.clone());
            clicks.spawn(async move { store.begin_attempt(&session, PRICE, now, now + LEASE).await.expect("begin") });
        }
        let outcomes = clicks.join_all().await;
        let started: Vec<&BeginAttempt> = outcomes.iter().filter(|o| matches!(o, BeginAttempt::Started(_))).collect();
        assert_eq!(started.len(), 1, "exactly one starts: {outcomes:?}");
        assert_eq!(outcomes.iter().filter(|o| **o == BeginAttempt::Busy).count(), CLICKS - 1, "{outcomes:?}");
        let in_flight =
            PaymentAttempt { number: wanted, amount: PRICE, lease_until: now + LEASE, counters: Vec::new() };
        assert_eq!(started[0], &BeginAttempt::Started(in_flight.clone()));
        let paying = stored_session(fixture.store(), &session.id).await;
        assert_eq!((paying.attempts, paying.in_flight), (1, Some(in_flight)));
    }
}

// --- Link management: listing, switching off and on, idempotent creates.

fn merchant_link(merchant_id: &str) -> PaymentLink {
    PaymentLink { merchant_id: merchant_id.to_owned(), ..amount_link() }
}

/// Reads every page of a merchant's links, `page_size` at a time.
async fn list_all(store: &impl Store, merchant_id: &str, page_size: usize) -> Vec<LinkId> {
    let mut seen = Vec::new();
    let mut before = None;
    for _ in 0..1000 {
        let page = store.list_links(merchant_id, page_size, before.as_ref()).await.unwrap();
        assert!(page.links.len() <= page_size);
        seen.extend(page.links.iter().map(|link| link.id.clone()));
        match page.next {
            Some(next) => before = Some(next),
            None => return seen,
        }
    }
    panic!("listing never ended");
}

async fn links_are_listed_newest_first_across_pages_without_gaps<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let mut created = Vec::new();
    for _ in 0..7 {
        let link = merchant_link("m_list");
        store.create_link(&link).await.unwrap();
        created.push(link.id);
        // ULIDs minted in one millisecond need not sort in creation order.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    created.reverse();
    for page_size in [1, 3, 7, 50] {
        assert_eq!(list_all(store, "m_list", page_size).await, created, "page size {page_size}");
    }
    let first = store.list_links("m_list", 3, None).await.unwrap();
    assert_eq!(first.links[0], store.get_link(&created[0]).await.unwrap().unwrap(), "pages carry whole links");

    // Links created while a merchant pages through are newer than the cursor: later pages
    // neither repeat nor skip anything.
    let mut seen: Vec<LinkId> = first.links.iter().map(|l| l.id.clone()).collect();
    store.create_link(&merchant_link("m_list")).await.unwrap();
    let mut before = first.next;
    while let Some(cursor) = before {
        let page = store.list_links("m_list", 3, Some(&cursor)).await.unwrap();
        seen.extend(page.links.iter().map(|l| l.id.clone()));
        before = page.next;
    }
    assert_eq!(seen, created);
}

async fn a_listing_shows_only_the_merchants_own_links<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let mine = merchant_link("m_a");
    store.create_link(&mine).await.unwrap();
    store.create_link(&merchant_link("m_b")).await.unwrap();
    assert_eq!(list_all(store, "m_a", 10).await, vec![mine.id]);
    assert!(list_all(store, "m_nobody", 10).await.is_empty());
}

async fn links_are_switched_off_and_on<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = amount_link();
    store.create_link(&link).await.unwrap();
    let off = store.set_link_active(&link.id, false, None, at(1)).await.unwrap().unwrap();
    assert!(!off.active);
    assert_eq!(PaymentLink { active: true, ..off.clone() }, link, "only the flag changes");
    assert!(!store.get_link(&link.id).await.unwrap().unwrap().active);
    assert!(store.set_link_active(&link.id, true, None, at(2)).await.unwrap().unwrap().active);
    assert_eq!(store.set_link_active(&LinkId::generate(), false, None, at(3)).await.unwrap(), None);
    assert_eq!(store.get_link(&LinkId::generate()).await.unwrap(), None, "no link is created by switching");
}

fn idempotency(merchant_id: &str, key: &str, link: &LinkId, now: DateTime<Utc>) -> IdempotencyRecord {
    IdempotencyRecord {
        merchant_id: merchant_id.to_owned(),
        key: key.to_owned(),
        request_hash: "hash-1".to_owned(),
        link_id: link.clone(),
        created_at: now,
        expires_at: now + IdempotencyRecord::LIFETIME,
    }
}

async fn an_idempotency_key_creates_one_link_and_replays_it<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let now = instant(1_767_225_600, 0);
    let first = amount_link();
    let record = idempotency("m_idem", "order-42", &first.id, now);
    assert_eq!(store.create_link_idempotent(&first, &record, now).await.unwrap(), IdempotentCreate::Created);
    let retry = amount_link();
    let replay = store.create_link_idempotent(&retry, &idempotency("m_idem", "order-42", &retry.id, now), now).await;
    assert_eq!(replay.unwrap(), IdempotentCreate::Replay(record), "the original record comes back");
    assert_eq!(store.get_link(&retry.id).await.unwrap(), None, "a replay writes nothing");
    // Keys are scoped per merchant.
    let other = amount_link();
    let created = store.create_link_idempotent(&other, &idempotency("m_other", "order-42", &other.id, now), now).await;
    assert_eq!(created.unwrap(), IdempotentCreate::Created);
}

async fn concurrent_creates_with_one_idempotency_key_create_exactly_one_link<F: Fixture>() {
    let fixture = F::fresh().await;
    let now = instant(1_767_225_600, 0);
    let mut racers = JoinSet::new();
    for _ in 0..10 {
        let store = fixture.store().clone();
        racers.spawn(async move {
            let link = amount_link();
            let record = idempotency("m_race", "same-key", &link.id, now);
            let outcome = store.create_link_idempotent(&link, &record, now).await.unwrap();
            (link.id, outcome)
        });
    }
    let mut created = Vec::new();
    let mut replayed = Vec::new();
    while let Some(result) = racers.join_next().await {
        match result.unwrap() {
            (id, IdempotentCreate::Created) => created.push(id),
            (_, IdempotentCreate::Replay(record)) => replayed.push(record.link_id),
        }
    }
    assert_eq!(created.len(), 1, "exactly one link is created");
    assert!(replayed.iter().all(|id| *id == created[0]), "every replay names the one link");
    for id in &created {
        assert!(fixture.store().get_link(id).await.unwrap().is_some());
    }
}

async fn an_expired_idempotency_key_can_be_used_again<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let now = instant(1_767_225_600, 0);
    let first = amount_link();
    store.create_link_idempotent(&first, &idempotency("m_exp", "k", &first.id, now), now).await.unwrap();
    let later = now + IdempotencyRecord::LIFETIME;
    let second = amount_link();
    let created = store.create_link_idempotent(&second, &idempotency("m_exp", "k", &second.id, later), later).await;
    assert_eq!(created.unwrap(), IdempotentCreate::Created);
    assert!(store.get_link(&second.id).await.unwrap().is_some());
}

async fn counters_count_every_increment_even_concurrently<F: Fixture>() {
    let fixture = F::fresh().await;
    let window_end = instant(1_767_225_600, 0);
    assert_eq!(fixture.store().read_counter("declines:link:x:1").await.unwrap(), 0);
    let mut racers = JoinSet::new();
    for _ in 0..20 {
        let store = fixture.store().clone();
        racers.spawn(async move { store.increment_counter("declines:link:x:1", window_end).await.unwrap() });
    }
    let mut counts = Vec::new();
    while let Some(count) = racers.join_next().await {
        counts.push(count.unwrap());
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=20).collect::<Vec<u64>>(), "every increment sees its own count");
    assert_eq!(fixture.store().read_counter("declines:link:x:1").await.unwrap(), 20);
    assert_eq!(fixture.store().read_counter("declines:link:x:2").await.unwrap(), 0, "windows are separate");
}

async fn counters_count_each_client_once_even_concurrently<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let window_end = instant(1_767_225_600, 0);
    let count = async |client| store.count_client("declines:link:z:1", client, window_end).await.unwrap();
    let counted = |count, clients, new_client| ClientCount { count, clients, new_client };
    assert_eq!(count(Some("192.0.2.1")).await, counted(1, 1, true));
    assert_eq!(count(Some("192.0.2.1")).await, counted(2, 1, false), "a client counts once");
    assert_eq!(count(None).await, counted(3, 1, false), "an unknown client adds none");
    assert_eq!(count(Some("2001:db8::/64")).await, counted(4, 2, true));

    let mut racers = JoinSet::new();
    for n in 0..20 {
        let store = fixture.store().clone();
        let client = format!("198.51.100.{}", n % 5);
        racers.spawn(async move { store.count_client("declines:link:z:2", Some(&client), window_end).await.unwrap() });
    }
    let raced = racers.join_all().await;
    let racers_new: Vec<bool> = raced.iter().map(|counted| counted.new_client).collect();
    let mut counts: Vec<u64> = raced.iter().map(|counted| counted.count).collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=20).collect::<Vec<u64>>(), "every increment sees its own count");
    assert_eq!(store.read_counter("declines:link:z:2").await.unwrap(), 20);
    assert_eq!(store.read_counter("declines:link:z:1").await.unwrap(), 4);
    let once_more = store.count_client("declines:link:z:2", None, window_end).await.unwrap();
    assert_eq!(once_more, ClientCount { count: 21, clients: 5, new_client: false }, "each of the five clients once");
    let new_clients = racers_new.iter().filter(|new| **new).count();
    assert_eq!(new_clients, 5, "each racing client was new exactly once");
}

async fn a_hold_is_renewed_only_by_its_session_even_on_a_blocked_link<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    let link = create_paying_link(store, Some(1)).await;
    let [holder, other] = [SessionId::generate(), SessionId::generate()];
    assert_eq!(claim(store, &link, &holder, at(1)).await, Claim::Claimed);
    // A block for card testing meanwhile: the use is the holder's already, and stays so.
    store.block_payments(&link.id, at(100)).await.expect("block");
    assert!(store.renew_hold(&link.id, &holder, at(900)).await.expect("renew"));
    assert_eq!(uses(store, &link.id).await, (0, 1, vec![held(&holder, at(900))]), "renewed, counted once");
    // Another session holds nothing to renew, and gets nothing.
    assert!(!store.renew_hold(&link.id, &other, at(900)).await.expect("renew of no hold"));
    store.release_use(&link.id, &holder).await.expect("release");
    assert!(!store.renew_hold(&link.id, &holder, at(950)).await.expect("renew after release"));
    assert_eq!(uses(store, &link.id).await, (0, 0, vec![]), "nothing held comes back");
    let unknown = LinkId::generate();
    assert!(!store.renew_hold(&unknown, &holder, at(900)).await.expect("renew on an unknown link"));
    assert_eq!(store.get_link(&unknown).await.expect("get link"), None, "no link is made up");
}

async fn a_blocked_link_refuses_claims_until_the_block_ends<F: Fixture>() {
    let fixture = F::fresh().await;
    let store = fixture.store();
    for usage_limit in [Some(5), None] {
        let link = create_paying_link(store, usage_limit).await;
        let session = SessionId::generate();
        store.block_payments(&link.id, at(100)).await.expect("block");
        // A shorter block never shortens a longer one.
        store.block_payments(&link.id, at(50)).await.expect("block");
        assert_eq!(stored_link(store, &link.id).await.blocked_until, Some(at(100)));
        for now in [at(1), at(100) - NANO] {
            assert_eq!(claim(store, &link, &session, now).await, Claim::Blocked(at(100)), "{usage_limit:?} at {now}");
        }
        assert_eq!(uses(store, &link.id).await, (0, 0, vec![]), "a refused claim holds nothing");
        assert_eq!(claim(store, &link, &session, at(100)).await, Claim::Claimed, "{usage_limit:?}");
        // A longer block extends it.
        store.block_payments(&link.id, at(200)).await.expect("block");
        assert_eq!(claim(store, &link, &session, at(150)).await, Claim::Blocked(at(200)), "{usage_limit:?}");
        // Its merchant switching it on lifts the block.
        store.set_link_active(&link.id, true, None, at(150)).await.expect("switch on");
        assert_eq!(stored_link(store, &link.id).await.blocked_until, None);
        assert_eq!(claim(store, &link, &session, at(151)).await, Claim::Claimed, "{usage_limit:?}");
    }
    store.block_payments(&LinkId::generate(), at(100)).await.expect("an unknown link is not blocked");
}
