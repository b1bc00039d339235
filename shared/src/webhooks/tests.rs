//! Delivery against a receiver that is down, on the embedded store, with time moved by hand.

use chrono::{DateTime, TimeDelta, Utc};

use super::deliver::{Sender, deliver_all_due, deliver_due};
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
    let endpoint = endpoint_at(dead_receiver(), vec![EventType::CheckoutSessionCompleted]);
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

/// A receiver on loopback answering 204, counting the requests that reach it.
fn live_receiver() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    live_receiver_with(|| {})
}

/// [`live_receiver`], running `before_answer` when each request has been read.
fn live_receiver_with(
    mut before_answer: impl FnMut() + Send + 'static,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = reached.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // The whole request first: closing on unread bytes resets the connection.
            read_request(&mut stream);
            before_answer();
            std::io::Write::write_all(&mut stream, b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").ok();
        }
    });
    (url, reached)
}

#[tokio::test]
async fn a_receiver_that_does_not_answer_is_tried_once_a_round_and_holds_up_no_other_merchant() {
    let (store, _dir) = fresh_embedded_store();
    let checkout = || shop_checkout(Cart::Amount { amount: MinorUnits(500) });
    let (down, up) = (
        PaymentLink::new("m_down", checkout(), None, 30, day(0)),
        PaymentLink::new("m_up", checkout(), None, 30, day(0)),
    );
    for link in [&down, &up] {
        store.create_link(link).await.unwrap();
    }
    store.add_webhook_endpoint("m_down", &endpoint_at(dead_receiver(), Vec::new())).await.unwrap();
    let (url, reached) = live_receiver();
    store.add_webhook_endpoint("m_up", &endpoint_at(url, Vec::new())).await.unwrap();
    for _ in 0..3 {
        pay(&store, &down, day(0)).await;
    }
    pay(&store, &up, day(0)).await;

    let sender = Sender::new(WebhookTargets::Anywhere).unwrap();
    assert_eq!(deliver_due(&store, &sender, day(0)).await.unwrap(), 2, "one try to each receiver");
    assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 1, "the working receiver got its event");
    let listed = store.list_events("m_down", None, 10, None, day(1)).await.unwrap();
    let deliveries: Vec<_> = listed.events.iter().flat_map(|event| event.deliveries.values()).collect();
    let tried: Vec<_> = deliveries.iter().filter(|delivery| delivery.attempts == 1).collect();
    assert_eq!((deliveries.len(), tried.len()), (3, 1), "{deliveries:?}");
    // The others wait for the failing receiver's next try, with no attempt spent.
    for delivery in &deliveries {
        assert_eq!(delivery.next_attempt_at, tried[0].next_attempt_at, "{delivery:?}");
    }
    assert!(store.due_events(day(0), 10).await.unwrap().is_empty(), "nothing left due this round");
}

#[tokio::test]
async fn a_redelivery_reaches_an_endpoint_registered_again_after_it_was_disabled() {
    let (store, _dir) = fresh_embedded_store();
    let link = PaymentLink::new("m_again", shop_checkout(Cart::Amount { amount: MinorUnits(500) }), None, 30, day(0));
    store.create_link(&link).await.unwrap();
    let old = endpoint_at(dead_receiver(), Vec::new());
    store.add_webhook_endpoint("m_again", &old).await.unwrap();
    pay(&store, &link, day(0)).await;
    let sender = Sender::new(WebhookTargets::Anywhere).unwrap();
    assert_eq!(deliver_due(&store, &sender, day(0)).await.unwrap(), 1);
    // The old receiver is disabled; the merchant fixes it and registers it again, later.
    let disabled = WebhookEndpoint { disabled_reason: Some("failing".into()), ..old };
    assert!(store.record_webhook_endpoint_health("m_again", &disabled).await.unwrap());
    let (url, reached) = live_receiver();
    let again = WebhookEndpoint { created_at: day(1), ..endpoint_at(url, Vec::new()) };
    store.add_webhook_endpoint("m_again", &again).await.unwrap();
    let event = store.list_events("m_again", None, 10, None, day(1)).await.unwrap().events.remove(0);
    assert_eq!(
        deliver_due(&store, &sender, day(1)).await.unwrap(),
        0,
        "an event is not sent to a later endpoint by itself"
    );

    let (_, endpoints) =
        super::endpoints::redeliver(&store, &merchant("m_again"), event.id.as_str(), day(1)).await.unwrap();
    assert_eq!(endpoints, 1, "the endpoint registered again, not the disabled one");
    assert_eq!(deliver_due(&store, &sender, day(1)).await.unwrap(), 1);
    assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 1, "the redelivery reached it");
}

/// A backlog of events of merchants without endpoints (a flash sale before any merchant set
/// webhooks up) needs no attempt, yet must not hold up the events behind it until the next
/// wake-up.
#[tokio::test]
async fn events_of_merchants_without_endpoints_do_not_hold_up_the_others() {
    let (store, _dir) = fresh_embedded_store();
    let checkout = || shop_checkout(Cart::Amount { amount: MinorUnits(500) });
    let (quiet, hooked) = (
        PaymentLink::new("m_quiet", checkout(), None, 30, day(0)),
        PaymentLink::new("m_hooked", checkout(), None, 30, day(0)),
    );
    for link in [&quiet, &hooked] {
        store.create_link(link).await.unwrap();
    }
    let (url, reached) = live_receiver();
    store.add_webhook_endpoint("m_hooked", &endpoint_at(url, Vec::new())).await.unwrap();
    // More than one round's batch of events nobody receives, due first.
    for n in 0..120 {
        pay(&store, &quiet, day(0) + TimeDelta::milliseconds(n)).await;
    }
    pay(&store, &hooked, day(0) + TimeDelta::seconds(1)).await;

    let sender = Sender::new(WebhookTargets::Anywhere).unwrap();
    assert_eq!(deliver_all_due(&store, &sender, || day(0) + TimeDelta::seconds(2)).await.unwrap(), 1);
    assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 1, "the receiver got its event in this wake-up");
    assert!(store.due_events(day(1), 10).await.unwrap().is_empty(), "nothing left due");
}

/// The merchant asks for a redelivery while the dispatcher is sending the event: the
/// dispatcher's record of its round, made from the event as it read it, must not undo the
/// redelivery (which answered 202).
#[tokio::test]
async fn a_redelivery_made_while_the_event_is_being_sent_is_not_undone() {
    let (store, _dir) = fresh_embedded_store();
    let link = PaymentLink::new("m_race", shop_checkout(Cart::Amount { amount: MinorUnits(500) }), None, 30, day(0));
    store.create_link(&link).await.unwrap();
    // A receiver that holds its first answer until told to give it.
    let (arrived, first_arrived) = tokio::sync::oneshot::channel::<()>();
    let (answer_first, first_answered) = std::sync::mpsc::channel::<()>();
    let mut first = Some((arrived, first_answered));
    let (url, reached) = live_receiver_with(move || {
        if let Some((arrived, first_answered)) = first.take() {
            arrived.send(()).ok();
            first_answered.recv().ok();
        }
    });
    store.add_webhook_endpoint("m_race", &endpoint_at(url, Vec::new())).await.unwrap();
    pay(&store, &link, day(0)).await;
    let event = store.list_events("m_race", None, 10, None, day(0)).await.unwrap().events.remove(0);
    let sender = Sender::new(WebhookTargets::Anywhere).unwrap();

    let redelivery = async {
        first_arrived.await.unwrap();
        let redelivered = super::endpoints::redeliver(&store, &merchant("m_race"), event.id.as_str(), day(0)).await;
        answer_first.send(()).unwrap();
        redelivered.unwrap().1
    };
    let (attempts, endpoints) = tokio::join!(deliver_due(&store, &sender, day(0)), redelivery);
    assert_eq!((attempts.unwrap(), endpoints), (1, 1));

    // The redelivery stands: the event is due again, and sent again.
    assert_eq!(deliver_due(&store, &sender, day(0)).await.unwrap(), 1, "the redelivery is attempted");
    assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 2, "and reaches the receiver");
    let stored = store.get_event(&event.id).await.unwrap().unwrap();
    assert!(stored.due_at.is_none() && stored.deliveries.values().all(|delivery| delivery.delivered), "{stored:?}");
}

fn merchant(id: &str) -> crate::model::Merchant {
    crate::model::Merchant {
        id: id.into(),
        name: "Shop".into(),
        vault_key_hash: String::new(),
        merchant_key_hash: String::new(),
        created_at: day(0),
        stripe_account: None,
    }
}

/// An endpoint of `url` created at `day(0)`, for `events` (empty: all).
fn endpoint_at(url: String, events: Vec<EventType>) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookEndpointId::generate(),
        url,
        events,
        description: None,
        secret: super::signature::new_secret(),
        previous_secret: None,
        previous_secret_until: None,
        created_at: day(0),
        failing_since: None,
        disabled_reason: None,
    }
}

/// Server-side request forgery on a deployment: an endpoint stored while its name was public
/// (DNS rebinding), or written with a loopback address in any form, never gets a connection —
/// the address checked is the one connected to. The same receiver is reached from `serve`
/// (targets anywhere), so the check is what stops it.
#[tokio::test]
async fn a_deployment_never_connects_to_loopback_however_the_url_names_it() {
    // A receiver on loopback answering 204 to anyone who gets through, counting them.
    let (receiver, reached) = live_receiver();
    let port = reqwest::Url::parse(&receiver).unwrap().port().unwrap();
    let connections = || reached.swap(0, std::sync::atomic::Ordering::SeqCst);
    let urls = [
        format!("https://localhost:{port}/hooks"), // a name resolving to 127.0.0.1
        format!("https://127.0.0.1:{port}/hooks"),
        format!("https://[::ffff:127.0.0.1]:{port}/hooks"),
        format!("https://2130706433:{port}/hooks"), // 127.0.0.1 as one number
        format!("http://127.0.0.1:{port}/hooks"),   // and not https either
    ];
    let control = format!("http://localhost:{port}/hooks");
    for (url, targets, answered) in urls.iter().map(|url| (url, WebhookTargets::PublicHttps, None)).chain([(
        &control,
        WebhookTargets::Anywhere,
        Some(204),
    )]) {
        let (store, _dir) = fresh_embedded_store();
        let link =
            PaymentLink::new("m_ssrf", shop_checkout(Cart::Amount { amount: MinorUnits(500) }), None, 30, day(0));
        store.create_link(&link).await.unwrap();
        store.add_webhook_endpoint("m_ssrf", &endpoint_at(url.clone(), Vec::new())).await.unwrap();
        pay(&store, &link, day(0)).await;
        let sender = Sender::new(targets).unwrap();
        assert_eq!(deliver_due(&store, &sender, day(0)).await.unwrap(), 1, "{url}: attempted");
        assert_eq!(connections(), usize::from(answered.is_some()), "{url} with {targets:?}: connections");
        let listed = store.list_events("m_ssrf", None, 10, None, day(1)).await.unwrap();
        let delivery = listed.events[0].deliveries.values().next().unwrap();
        assert_eq!(delivery.last_status, answered, "{url}");
    }
}

/// Reads one HTTP/1.1 request (headers, then `content-length` bytes of body) from `stream`; a
/// TLS handshake or anything else that is not one is read until the peer stops sending.
fn read_request(stream: &mut std::net::TcpStream) {
    use std::io::Read;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(2))).ok();
    let (mut request, mut chunk) = (Vec::new(), [0u8; 4096]);
    while let Ok(read @ 1..) = stream.read(&mut chunk) {
        request.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&request);
        let Some(end) = text.find("\r\n\r\n") else { continue };
        let length = text[..end]
            .lines()
            .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|n| n.trim().to_owned()))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        if request.len() >= end + 4 + length {
            return;
        }
    }
}
