//! A fault injected at every store call of create, open and pay, through the handlers as
//! Lambda calls them, on both stores. Whatever fails, the client is told 503 with
//! `Retry-After` (never a 500, never "limit reached" because of a throttle), its retry
//! succeeds, and nothing acknowledged is lost or half-written. The same when the payment
//! processor does not answer.

use std::sync::Arc;

use chrono::TimeDelta;
use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};

use super::{
    Calls, Endpoint, Harness, OWN_KEYS, body_json, body_text, check_event, create_event, get_link_event, harness,
    harness_on, list_event, open_event,
};
use crate::checkout::guard::WINDOW;
use crate::checkout::processor::{InjectedProcessor, SandboxProcessor, approved_charges};
pub(super) use crate::checkout::processor::{TEST_CARD_DECLINED as DECLINED, TEST_CARD_SUCCESS as SUCCESS};
use crate::model::PaymentAttempt;
use crate::model::{CheckoutSession, EventType, LinkId, SessionId, SessionStatus};
use crate::store::faulty::{Fault, FaultyStore};

/// Every (store call, fault) pair of an operation that makes `calls` store calls.
fn every_fault(calls: usize) -> impl Iterator<Item = (usize, Fault)> {
    (0..calls).flat_map(|call| [(call, Fault::Throttle), (call, Fault::Ambiguous)])
}

/// The answer to a request that met `fault`: `done`, or 503 telling the client when to retry
/// (1 s; the attempt lease when the processor's answer is unknown). A throttle, which never
/// reaches the store, is always the 503.
fn assert_done_or_retry(fault: Fault, status: StatusCode, response: &Response<Body>, done: StatusCode, what: &str) {
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let retry_after = response.headers()[header::RETRY_AFTER].to_str().unwrap();
        let processor_unknown = body_text(response).contains("could not confirm your payment");
        let expected = if processor_unknown { PaymentAttempt::LEASE.num_seconds().to_string() } else { "1".to_owned() };
        assert_eq!(retry_after, expected, "{what}");
    } else {
        assert_eq!(fault, Fault::Ambiguous, "{what}: a throttle is a 503, got {status}");
        assert_eq!(status, done, "{what}: {}", body_text(response));
    }
}

/// Pays `session` as a customer pressing Pay again would (after the lease of an interrupted
/// attempt, "in progress" meanwhile): it ends paid once, the link used once and full. After an
/// interrupted decline, taking the attempt over first reports that decline (303 back to the
/// page, saying so).
pub(super) async fn pay_until_paid(
    h: &Harness,
    link: &LinkId,
    session: &CheckoutSession,
    after_decline: bool,
    what: &str,
) {
    for _ in 0..4 {
        let (status, response) = h.pay(session, SUCCESS).await;
        let location = response.headers().get(header::LOCATION).map(|l| l.to_str().unwrap().to_owned());
        let declined_page = location.as_deref().is_some_and(|l| l.contains("?declined="));
        if status == StatusCode::SEE_OTHER && !declined_page {
            let location = location.unwrap_or_default();
            assert!(location.starts_with("https://mystore.com/thank-you?success=true"), "{what}: {location}");
            let stored = h.app.store.get_session(&session.id).await.unwrap().unwrap();
            assert_eq!(stored.status, SessionStatus::Completed, "{what}");
            // One approved charge that stands, whatever attempts it took.
            let approved = approved_charges(h.app.store.as_ref(), &stored).await.len();
            assert_eq!(approved, 1, "{what}: charged once");
            assert_eq!(link_state(h, link).await, (1, true), "{what}: used once, then full");
            // Its event: written with the payment that committed, none for the faulted writes.
            assert_eq!(completed_events(h, session).await, 1, "{what}: one checkout.session.completed");
            return;
        }
        let reported_decline = after_decline && declined_page;
        assert!(
            reported_decline || matches!(status, StatusCode::SERVICE_UNAVAILABLE | StatusCode::CONFLICT),
            "{what}: {status}"
        );
        h.advance(PaymentAttempt::LEASE + TimeDelta::seconds(1));
    }
    panic!("{what}: still not paid after 4 tries");
}

/// How many `checkout.session.completed` events the merchant has for `session`.
async fn completed_events(h: &Harness, session: &CheckoutSession) -> usize {
    let (mut count, mut before) = (0, None);
    loop {
        let kind = Some(EventType::CheckoutSessionCompleted);
        let page =
            h.app.store.list_events(&session.merchant_id, kind, 100, before.as_ref(), h.app.now()).await.unwrap();
        count += page.events.iter().filter(|event| event.data.contains(session.id.as_str())).count();
        match page.next {
            None => return count,
            next => before = next,
        }
    }
}

/// The link as its merchant sees it: (used, limit reached?) after checking it is whole.
async fn link_state(h: &Harness, id: &LinkId) -> (u64, bool) {
    let (status, response) = h.call(Endpoint::GetLink, get_link_event(id, OWN_KEYS)).await;
    assert_eq!(status, StatusCode::OK, "{id} readable: {}", body_text(&response));
    let view = body_json(&response)["data"].clone();
    assert_eq!(view["amount"], "50.00", "{id} whole");
    (view["usage"]["used"].as_u64().unwrap(), view["status"] == "limit_reached")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_store_fault_in_create_open_and_pay_is_a_503_to_retry_embedded() {
    every_store_fault_in_create_open_and_pay_is_a_503_to_retry(harness().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_store_fault_in_create_open_and_pay_is_a_503_to_retry_dynamodb() {
    let store = crate::test_support::fresh_dynamo_store().await;
    every_store_fault_in_create_open_and_pay_is_a_503_to_retry(harness_on(Arc::new(store)).await).await;
}

async fn every_store_fault_in_create_open_and_pay_is_a_503_to_retry(mut h: Harness) {
    let faulty = Arc::new(FaultyStore::new(Arc::clone(&h.app.store)));
    h.app.store = faulty.clone();

    // Create. A 503 may still have written the link (the store committed, then timed out):
    // the merchant then has one more link, never a half-written one.
    let before = faulty.calls();
    let mut acknowledged = vec![h.create_seed_link().await];
    let calls = faulty.calls() - before;
    for (call, fault) in every_fault(calls) {
        let what = format!("create, {fault:?} at store call {call} of {calls}");
        faulty.fail_call(call, fault);
        let (status, response) = h.call(Endpoint::CreateLink, create_event(|_| {})).await;
        faulty.heal();
        assert_done_or_retry(fault, status, &response, StatusCode::CREATED, &what);
        if status == StatusCode::CREATED {
            acknowledged.push(body_json(&response)["data"]["paymentLinkId"].as_str().unwrap().parse().unwrap());
        }
    }
    let (_, listed) = h.call(Endpoint::ListLinks, list_event("limit=100", OWN_KEYS)).await;
    let listed: Vec<LinkId> = body_json(&listed)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["paymentLinkId"].as_str().unwrap().parse().unwrap())
        .collect();
    for id in &acknowledged {
        assert!(listed.contains(id), "acknowledged link {id} is listed");
    }
    for id in &listed {
        assert_eq!(link_state(&h, id).await, (0, false), "{id}");
        let (status, _) = h.call(Endpoint::CheckAvailability, check_event(id.as_str())).await;
        assert_eq!(status, StatusCode::OK, "{id} available");
    }

    // Open: a fault never uses up the link; opening again works.
    let link = h.create_seed_link().await;
    let before = faulty.calls();
    let (status, _) = h.call(Endpoint::OpenLink, open_event(link.as_str())).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let calls = faulty.calls() - before;
    for (call, fault) in every_fault(calls) {
        let what = format!("open, {fault:?} at store call {call} of {calls}");
        faulty.fail_call(call, fault);
        let (status, response) = h.call(Endpoint::OpenLink, open_event(link.as_str())).await;
        faulty.heal();
        assert_done_or_retry(fault, status, &response, StatusCode::SEE_OTHER, &what);
        h.open_session(&link).await;
        assert_eq!(link_state(&h, &link).await, (0, false), "{what}");
    }
    // The session's write applied but its answer was lost, and the SDK sent it again: the retry
    // finds the session the first one made. The customer still goes to it, never to a 500.
    faulty.fail_call(calls - 1, Fault::Resent);
    let (status, response) = h.call(Endpoint::OpenLink, open_event(link.as_str())).await;
    faulty.heal();
    assert_eq!(status, StatusCode::SEE_OTHER, "{}", body_text(&response));
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    let id: SessionId = location.rsplit('/').next().unwrap().parse().unwrap();
    assert!(h.app().store.get_session(&id).await.unwrap().is_some(), "it goes to the session written");

    // Pay, on a link for one payment, the processor's own records on the faulty store too: the
    // fault is a 503, paying again pays it exactly once and only then is the link used up.
    h.app.processor = Arc::new(SandboxProcessor::new(faulty.clone()));
    for (card, done) in [(SUCCESS, StatusCode::SEE_OTHER), (DECLINED, StatusCode::SEE_OTHER)] {
        let link = h.create_seed_link().await;
        let session = h.open_session(&link).await;
        let before = faulty.calls();
        assert_eq!(h.pay(&session, card).await.0, done);
        let calls = faulty.calls() - before;
        for (call, fault) in every_fault(calls) {
            let what = format!("pay with {card}, {fault:?} at store call {call} of {calls}");
            // A fresh card-testing window: the declines of this sweep must not add up.
            h.advance(WINDOW);
            let link = h.create_seed_link().await;
            let session = h.open_session(&link).await;
            faulty.fail_call(call, fault);
            let (status, response) = h.pay(&session, card).await;
            faulty.heal();
            if card == DECLINED && call == calls - 1 {
                // The last call counts a decline already stored against the link: best effort
                // (logged), so the customer is told of the decline, never asked to pay again.
                assert_eq!(status, done, "{what}: {}", body_text(&response));
            } else {
                assert_done_or_retry(fault, status, &response, done, &what);
            }
            pay_until_paid(&h, &link, &session, card == DECLINED, &what).await;
        }
    }
}

#[tokio::test]
async fn a_processor_that_does_not_answer_is_a_503_saying_when_paying_again_is_safe() {
    let mut h = harness().await;
    let link = h.create_seed_link().await;
    let session = h.open_session(&link).await;
    // Every charge times out before charging.
    let silent = InjectedProcessor::new(h.app.store.clone(), usize::MAX, false);
    let sandbox = std::mem::replace(&mut h.app.processor, Arc::new(silent));
    let (status, response) = h.pay(&session, SUCCESS).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // Until the attempt's lease lapses, paying again only says "in progress".
    assert_eq!(response.headers()[header::RETRY_AFTER], PaymentAttempt::LEASE.num_seconds().to_string());
    let page = body_text(&response);
    assert!(page.contains("could not confirm your payment") && page.contains("not be charged a second time"), "{page}");
    assert_eq!(h.pay(&session, SUCCESS).await.0, StatusCode::CONFLICT, "in progress");
    h.app.processor = sandbox;
    h.advance(PaymentAttempt::LEASE + TimeDelta::seconds(1));
    let (status, _) = h.pay(&session, SUCCESS).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "paid once the processor answers");
    assert_eq!(link_state(&h, &link).await, (1, true));
}
