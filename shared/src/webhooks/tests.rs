//! Delivery against a receiver that is down, on the embedded store, with time moved by hand.

use chrono::{DateTime, TimeDelta, Utc};

use super::deliver::{Sender, deliver_due};
use crate::app::WebhookTargets;
use crate::model::{
    Cart, CheckoutSession, EventType, PaymentAttempt, PaymentLink, PaymentResult, WebhookEndpoint, WebhookEndpointId,
};
use crate::money::MinorUnits;
use crate::store::{BeginAttempt, Events, Links, Payments, Sessions, Webhooks};
use crate::test_support::{fresh_embedded_store, shop_checkout};

fn day(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap() + TimeDelta::days(n)
}

/// A loopback URL nothing listens on: every attempt fails at once.
fn dead_receiver() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}/hooks", listener.local_addr().unwrap())
}

/// A payment completed at `at` on `link`: its event is written due then.
async fn pay(store: &(impl Sessions + Payments + ?Sized), link: &PaymentLink, at: DateTime<Utc>) {
    let session = CheckoutSession::open(link, at);
    store.create_session(&session).await.unwrap();
    let BeginAttempt::Started(attempt) =
        store.begin_attempt(&session.id, MinorUnits(500), at, at + PaymentAttempt::LEASE).await.unwrap()
    else {
        panic!("the attempt starts")
    };
    let result = PaymentResult {
        transaction_id: format!("txn_{}", ulid::Ulid::new()),
        amount: MinorUnits(500),
        card_brand: "Visa".into(),
        card_last_four: "4242".into(),
        completed_at: at,
    };
    store.complete_payment(&session.id, attempt.number, &link.id, &result).await.unwrap();
}

#[tokio::test]
async fn an_endpoint_failing_for_five_days_is_disabled_says_why_and_gets_nothing_more() {
    let (store, _dir) = fresh_embedded_store();
    let link = PaymentLink::new("m_hooks", shop_checkout(Cart::Amount { amount: MinorUnits(500) }), None, 30, day(0));
    store.create_link(&link).await.unwrap();
    let endpoint = WebhookEndpoint {
        id: WebhookEndpointId::generate(),
        url: dead_receiver(),
        events: vec![EventType::CheckoutSessionCompleted],
        description: None,
        secret: super::signature::new_secret(),
        previous_secret: None,
        previous_secret_until: None,
        created_at: day(0),
        failing_since: None,
        disabled_reason: None,
    };
    store.add_webhook_endpoint("m_hooks", &endpoint).await.unwrap();
    let sender = Sender::new(WebhookTargets::Anywhere).unwrap();
    let health = async || store.webhook_endpoints("m_hooks").await.unwrap().remove(0);

    // A payment a day, each delivery failing; the first failure starts the count.
    for n in 0..5 {
        pay(&store, &link, day(n)).await;
        // The day's event, and the retries of earlier ones that are due.
        assert!(deliver_due(&store, &sender, day(n)).await.unwrap() >= 1, "day {n}");
        let now = health().await;
        assert_eq!((now.failing_since, now.disabled_reason), (Some(day(0)), None), "day {n}");
    }
    // Day 5: five days of failures: disabled, with the reason for the merchant.
    pay(&store, &link, day(5)).await;
    deliver_due(&store, &sender, day(5)).await.unwrap();
    let disabled = health().await;
    let reason = disabled.disabled_reason.expect("disabled");
    assert!(reason.contains("every delivery failed for 5 days") && reason.contains("no answer"), "{reason}");
    // Nothing more is attempted, and nothing stays due for it.
    pay(&store, &link, day(6)).await;
    assert_eq!(deliver_due(&store, &sender, day(6)).await.unwrap(), 0);
    assert!(store.due_events(day(8), 100).await.unwrap().is_empty());
    let listed = store.list_events("m_hooks", None, 100, None, day(7)).await.unwrap();
    assert_eq!(listed.events.len(), 7, "every event is still listed for reconciliation");
}
