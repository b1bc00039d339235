//! What the items look like in the table (the contract suite checks only what reads return).
use chrono::{TimeZone, Utc};

use super::*;
use crate::model::{
    Cart, ChargeRecord, CheckoutSession, Merchant, PaymentAttempt, PaymentLink, PaymentResult, RateCounter,
};
use crate::money::MinorUnits;
use crate::store::{
    BeginAttempt, ChargeLedger, ClaimUse, CompletePayment, CounterLimit, Counters, Links, Merchants, Payments,
    RETENTION_AFTER_EXPIRY, Sessions, UNPAID_SESSION_RETENTION,
};
use crate::test_support::{fresh_dynamo_store, shop_checkout};

fn link(merchant_id: &str) -> PaymentLink {
    let created_at = Utc.timestamp_opt(1_767_225_600, 250_000_000).unwrap();
    // 31 days on, at another fraction of a second than `new` would give.
    PaymentLink {
        expires_at: Utc.timestamp_opt(1_769_904_000, 750_000_000).unwrap(),
        ..PaymentLink::new(merchant_id, shop_checkout(Cart::Amount { amount: MinorUnits(2500) }), None, 31, created_at)
    }
}

/// A card payment of the test link's amount, completed at `completed_at`.
fn paid_at(completed_at: chrono::DateTime<Utc>) -> PaymentResult {
    PaymentResult {
        transaction_id: "txn_1".to_owned(),
        amount: MinorUnits(2500),
        card_brand: "visa".to_owned(),
        card_last_four: "4242".to_owned(),
        completed_at,
    }
}

async fn raw(store: &DynamoStore, pk: &str) -> Item {
    let output = store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", AttributeValue::S(pk.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("get item");
    output.item.unwrap_or_else(|| panic!("no item {pk}"))
}

fn s<'a>(item: &'a Item, name: &str) -> &'a str {
    item.get(name).and_then(|v| v.as_s().ok()).unwrap_or_else(|| panic!("{name} is not a string: {item:?}"))
}

fn n<'a>(item: &'a Item, name: &str) -> &'a str {
    item.get(name).and_then(|v| v.as_n().ok()).unwrap_or_else(|| panic!("{name} is not a number: {item:?}"))
}

#[tokio::test]
async fn items_carry_their_key_ttl_and_index_attributes() {
    let store = fresh_dynamo_store().await;
    let link = link("m_items");
    store.create_link(&link).await.expect("create link");
    let session = CheckoutSession::open(&link, link.created_at);
    store.create_session(&session).await.expect("create session");
    let merchant = Merchant {
        id: "m_items".to_owned(),
        name: "Shop".to_owned(),
        vault_key_hash: "v".repeat(64),
        merchant_key_hash: "k".repeat(64),
        created_at: link.created_at,
        stripe_account: None,
    };
    store.create_merchant(&merchant).await.expect("create merchant");

    let item = raw(&store, &format!("LINK#{}", link.id)).await;
    assert_eq!(s(&item, "pk"), format!("LINK#{}", link.id));
    // TTL: whole epoch seconds, as a number, 90 days after expiry.
    assert_eq!(n(&item, "ttl"), (1_769_904_000 + 90 * 86_400).to_string());
    assert_eq!(s(&item, "gsi1pk"), "MERCHANT#m_items");
    assert_eq!(s(&item, "gsi1sk"), link.id.as_str());
    assert_eq!(n(&item, "used"), "0");
    assert!(item["usageLimit"].is_null(), "None is stored as NULL: {item:?}");
    assert_eq!(s(&item, "expiresAt"), "2026-02-01T00:00:00.750Z");
    // The same instant as a number, exact to the nanosecond, for conditions.
    assert_eq!(n(&item, "expiresAtNanos"), "1769904000750000000");
    let cart = item["checkout"].as_m().expect("checkout map")["cart"].as_m().expect("cart map");
    assert_eq!(s(cart, "kind"), "amount");
    assert_eq!(n(cart, "amount"), "2500");

    let item = raw(&store, &format!("SESSION#{}", session.id)).await;
    // Anyone can open a link: an unpaid session is swept a day after it expires.
    assert_eq!(n(&item, "ttl"), (session.expires_at + UNPAID_SESSION_RETENTION).timestamp().to_string());
    assert!(!item.contains_key("gsi1pk"), "sessions stay out of the links index");

    for pk in [format!("MERCHANT#{}", merchant.id), format!("KEY#{}", merchant.merchant_key_hash)] {
        let item = raw(&store, &pk).await;
        assert!(!item.contains_key("ttl"), "merchants never expire: {item:?}");
        assert_eq!(s(&item, "merchantKeyHash"), merchant.merchant_key_hash);
    }

    let ttl = store.client().describe_time_to_live().table_name(store.table()).send().await.expect("ttl");
    let ttl = ttl.time_to_live_description.expect("ttl description");
    assert_eq!(ttl.attribute_name(), Some("ttl"));
}

#[tokio::test]
async fn charge_records_carry_a_ttl_and_are_swept_long_after() {
    let store = fresh_dynamo_store().await;
    let record = ChargeRecord {
        idempotency_key: "cs_01ARZ3NDEKTSV4RRFFQ69G5FAV:1".to_owned(),
        amount: MinorUnits(2500),
        currency: "USD".parse().expect("USD"),
        outcome: crate::model::ChargeOutcome::Declined { reason: crate::model::DeclineReason::Declined },
        voided: false,
        created_at: Utc.timestamp_opt(1_767_225_600, 5).unwrap(),
    };
    store.record_charge(&record).await.expect("record charge");
    store.void_charge(&record.idempotency_key).await.expect("void charge");

    let item = raw(&store, "CHARGE#cs_01ARZ3NDEKTSV4RRFFQ69G5FAV:1").await;
    assert_eq!(n(&item, "ttl"), (1_767_225_600 + 90 * 86_400).to_string());
    assert_eq!(item.get("voided").and_then(|v| v.as_bool().ok()), Some(&true));
}

#[tokio::test]
async fn a_merchants_links_are_listed_newest_first_by_the_index() {
    let store = fresh_dynamo_store().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let link = link("m_listed");
        store.create_link(&link).await.expect("create link");
        ids.push(link.id.to_string());
        // ULIDs order by millisecond; within one they are random.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    store.create_link(&link("m_other")).await.expect("create other link");

    let output = store
        .client()
        .query()
        .table_name(store.table())
        .index_name(GSI1)
        .key_condition_expression("gsi1pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("MERCHANT#m_listed".to_owned()))
        .scan_index_forward(false)
        .send()
        .await
        .expect("query");
    let listed: Vec<String> = output.items().iter().map(|item| s(item, "id").to_owned()).collect();
    ids.reverse();
    assert_eq!(listed, ids);
}

#[tokio::test]
async fn a_paid_session_is_kept_as_long_as_links_are() {
    let store = fresh_dynamo_store().await;
    let link = link("m_paid");
    store.create_link(&link).await.expect("create link");
    let session = CheckoutSession::open(&link, link.created_at);
    store.create_session(&session).await.expect("create session");
    let now = link.created_at;
    let BeginAttempt::Started(attempt) =
        store.begin_attempt(&session.id, MinorUnits(2500), now, now + PaymentAttempt::LEASE).await.expect("begin")
    else {
        panic!("the attempt starts")
    };
    let claimed = store.claim_use(&link.id, &session.id, now, attempt.lease_until).await.expect("claim");
    assert!(matches!(claimed, ClaimUse::Claimed(_)), "{claimed:?}");
    let result = paid_at(now + chrono::TimeDelta::minutes(3));
    let completed = store.complete_payment(&session.id, attempt.number, &link.id, &result).await.expect("complete");
    assert_eq!(completed, CompletePayment::Completed);
    let item = raw(&store, &format!("SESSION#{}", session.id)).await;
    assert_eq!(n(&item, "ttl"), (result.completed_at + RETENTION_AFTER_EXPIRY).timestamp().to_string());
}

#[tokio::test]
async fn a_count_given_back_after_ttl_swept_its_counter_reads_as_zero_and_is_swept_again() {
    let store = fresh_dynamo_store().await;
    let link = link("m_swept");
    store.create_link(&link).await.expect("create link");
    let session = CheckoutSession::open(&link, link.created_at);
    store.create_session(&session).await.expect("create session");
    let now = link.created_at;
    let window_end = now + chrono::TimeDelta::minutes(10);
    let counter = RateCounter { name: "declines:client:swept:1".to_owned(), window_end };
    let limits = [CounterLimit { counter: counter.clone(), limit: 10 }];
    let begun =
        store.begin_attempt_checking_link(&session, MinorUnits(2500), now, now + PaymentAttempt::LEASE, &limits);
    let BeginAttempt::Started(attempt) = begun.await.expect("begin") else { panic!("the attempt starts") };
    assert_eq!(n(&raw(&store, "COUNTER#declines:client:swept:1").await, "count"), "1");

    // A 3-D Secure payment reported long after its window: TTL has swept the counter.
    let counter_key = AttributeValue::S("COUNTER#declines:client:swept:1".to_owned());
    let deleted = store.client().delete_item().table_name(store.table()).key("pk", counter_key).send().await;
    deleted.expect("delete counter");
    let result = paid_at(window_end + chrono::TimeDelta::days(1));
    let completed = store.complete_payment_on(&session, &attempt, None, &result).await.expect("complete");
    assert_eq!(completed, CompletePayment::Completed, "the payment is never refused for a counter");
    let item = raw(&store, "COUNTER#declines:client:swept:1").await;
    assert_eq!((n(&item, "count"), n(&item, "ttl")), ("-1", window_end.timestamp().to_string().as_str()));
    assert_eq!(store.read_counter(&counter.name).await.expect("read"), 0);
}

#[tokio::test]
async fn a_rare_event_type_among_many_is_listed_in_a_few_queries() {
    use crate::model::{Event, EventType};
    use crate::store::Events;
    use crate::test_support::{RequestCounter, counted_client, fresh_dynamo_store_with, moto_endpoint};

    let counter = RequestCounter::default();
    let store = fresh_dynamo_store_with(counted_client(&moto_endpoint().await, &counter)).await;
    let link = link("m_events");
    let session = CheckoutSession::open(&link, link.created_at);
    let put = async |event: &Event| {
        let item = super::codec::event_item(event);
        store.client().put_item().table_name(store.table()).set_item(Some(item)).send().await.expect("put event");
    };
    // The oldest event is the one refund; 120 payments came after it.
    let refunded = Event::session_refunded(&session, link.created_at);
    put(&refunded).await;
    for n in 0..120 {
        put(&Event::session_completed(&session, &paid_at(link.created_at + chrono::TimeDelta::seconds(n + 1)))).await;
    }
    counter.take();
    let now = link.created_at + chrono::TimeDelta::days(1);
    let page =
        store.list_events("m_events", Some(EventType::CheckoutSessionRefunded), 10, None, now).await.expect("list");
    assert_eq!(page.events.iter().map(|event| &event.id).collect::<Vec<_>>(), vec![&refunded.id]);
    assert_eq!(page.next, None);
    // DynamoDB applies Limit before the filter: reading 11 items a query took 12 queries.
    assert_eq!(counter.take().get("Query").copied(), Some(1), "one query reads past the 120 others");
}

#[tokio::test]
async fn an_open_is_one_read_of_the_link_and_one_write_of_the_session_with_its_count() {
    use crate::test_support::{RequestCounter, counted_client, fresh_dynamo_store_with, moto_endpoint};

    let counter = RequestCounter::default();
    let store = fresh_dynamo_store_with(counted_client(&moto_endpoint().await, &counter)).await;
    let link = link("m_open");
    store.create_link(&link).await.expect("create link");
    counter.take();
    let session = crate::links::open(&store, link.id.as_str(), Some("192.0.2.1"), 1, link.created_at).await;
    let session = session.expect("open");
    let requests: Vec<_> = counter.take().into_iter().collect();
    assert_eq!(requests, [("GetItem".to_owned(), 1), ("TransactWriteItems".to_owned(), 1)]);
    assert_eq!(store.get_session(&session.id).await.expect("get"), Some(session));
    counter.take();
    // Over the client's limit: still one read and one (refused) write, and no session.
    let refused = crate::links::open(&store, link.id.as_str(), Some("192.0.2.1"), 1, link.created_at).await;
    assert!(matches!(refused, Err(crate::error::ApiError::RateLimited(_))), "{refused:?}");
    let requests: Vec<_> = counter.take().into_iter().collect();
    assert_eq!(requests, [("GetItem".to_owned(), 1), ("TransactWriteItems".to_owned(), 1)]);
    // The one open made is counted; the refused one is not.
    let (minute, _) = crate::clock::fixed_window(link.created_at, chrono::TimeDelta::minutes(1));
    assert_eq!(store.read_counter(&format!("opens:client:192.0.2.1:{minute}")).await.expect("read"), 1);
}
