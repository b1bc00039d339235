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
    Endpoint, Harness, OWN_KEYS, body_json, body_text, check_event, create_event, get_link_event, list_event,
    open_event,
};
use crate::checkout::pay::ATTEMPT_LEASE;
use crate::checkout::processor::{ChargeOutcome, ChargeRequest, PaymentProcessor, ProcessorError};
use crate::model::{LinkId, SessionStatus};
use crate::store::faulty::{Fault, FaultyStore};

const SUCCESS: &str = "4242 4242 4242 4242";

/// Every (store call, fault) pair of an operation that makes `calls` store calls.
fn every_fault(calls: usize) -> impl Iterator<Item = (usize, Fault)> {
    (0..calls).flat_map(|call| [(call, Fault::Throttle), (call, Fault::Ambiguous)])
}

/// The answer to a request that met a fault: `done`, or 503 telling the client when to
/// retry. True for the 503.
fn assert_done_or_retry(status: StatusCode, response: &Response<Body>, done: StatusCode, what: &str) -> bool {
    if status == StatusCode::SERVICE_UNAVAILABLE {
        assert_eq!(response.headers()[header::RETRY_AFTER], "1", "{what}");
        true
    } else {
        assert_eq!(status, done, "{what}: {}", body_text(response));
        false
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
    every_store_fault_in_create_open_and_pay_is_a_503_to_retry(Harness::new().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_store_fault_in_create_open_and_pay_is_a_503_to_retry_dynamodb() {
    let store = crate::test_support::fresh_dynamo_store().await;
    every_store_fault_in_create_open_and_pay_is_a_503_to_retry(Harness::with_store(Arc::new(store), None).await).await;
}

async fn every_store_fault_in_create_open_and_pay_is_a_503_to_retry(mut h: Harness) {
    let faulty = Arc::new(FaultyStore::new(Arc::clone(&h.app.store)));
    h.app.store = faulty.clone();

    // Create. A 503 may still have written the link (the store committed, then timed out):
    // the merchant then has one more link, never a half-written one.
    let before = faulty.calls();
    let mut acknowledged = vec![h.create_seed_link().await];
    let calls = faulty.calls() - before;
    let mut unavailable = 0;
    for (call, fault) in every_fault(calls) {
        let what = format!("create, {fault:?} at store call {call} of {calls}");
        faulty.fail_call(call, fault);
        let (status, response) = h.call(Endpoint::CreateLink, create_event(|_| {})).await;
        faulty.heal();
        unavailable += usize::from(assert_done_or_retry(status, &response, StatusCode::CREATED, &what));
        if status == StatusCode::CREATED {
            acknowledged.push(body_json(&response)["data"]["paymentLinkId"].as_str().unwrap().parse().unwrap());
        }
    }
    assert!(unavailable >= calls, "every throttled create call is a 503 ({unavailable} of {})", 2 * calls);
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
    let mut unavailable = 0;
    for (call, fault) in every_fault(calls) {
        let what = format!("open, {fault:?} at store call {call} of {calls}");
        faulty.fail_call(call, fault);
        let (status, response) = h.call(Endpoint::OpenLink, open_event(link.as_str())).await;
        faulty.heal();
        unavailable += usize::from(assert_done_or_retry(status, &response, StatusCode::SEE_OTHER, &what));
        h.open_session(&link).await;
        assert_eq!(link_state(&h, &link).await, (0, false), "{what}");
    }
    assert!(unavailable >= calls, "every throttled open call is a 503 ({unavailable} of {})", 2 * calls);

    // Pay, on a link for one payment: the fault is a 503, paying again pays it exactly once
    // and only then is the link used up.
    let link = h.create_seed_link().await;
    let session = h.open_session(&link).await;
    let before = faulty.calls();
    assert_eq!(h.pay(&session, SUCCESS).await.0, StatusCode::SEE_OTHER);
    let calls = faulty.calls() - before;
    let mut unavailable = 0;
    for (call, fault) in every_fault(calls) {
        let what = format!("pay, {fault:?} at store call {call} of {calls}");
        let link = h.create_seed_link().await;
        let session = h.open_session(&link).await;
        faulty.fail_call(call, fault);
        let (status, response) = h.pay(&session, SUCCESS).await;
        faulty.heal();
        unavailable += usize::from(assert_done_or_retry(status, &response, StatusCode::SEE_OTHER, &what));
        let mut tries = 0;
        let mut answer = (status, response);
        while answer.0 != StatusCode::SEE_OTHER {
            // "In progress" (409) while the interrupted attempt's lease runs; then it is taken over.
            assert!(matches!(answer.0, StatusCode::SERVICE_UNAVAILABLE | StatusCode::CONFLICT), "{what}: {answer:?}");
            tries += 1;
            assert!(tries <= 3, "{what}: still not paid after {tries} retries");
            h.advance(ATTEMPT_LEASE + TimeDelta::seconds(1));
            answer = h.pay(&session, SUCCESS).await;
        }
        let location = answer.1.headers()[header::LOCATION].to_str().unwrap();
        assert!(location.starts_with("https://mystore.com/thank-you?success=true"), "{what}: {location}");
        let stored = h.app.store.get_session(&session.id).await.unwrap().unwrap();
        assert_eq!(stored.status, SessionStatus::Completed, "{what}");
        assert_eq!(link_state(&h, &link).await, (1, true), "{what}: used once, then full");
    }
    assert!(unavailable >= calls, "every throttled pay call is a 503 ({unavailable} of {})", 2 * calls);
}

/// A processor that never answers.
struct SilentProcessor;

#[async_trait::async_trait]
impl PaymentProcessor for SilentProcessor {
    async fn charge(&self, _: &ChargeRequest<'_>) -> Result<ChargeOutcome, ProcessorError> {
        Err(ProcessorError::Unavailable("injected: timed out".into()))
    }
    async fn void(&self, _: &str) -> Result<(), ProcessorError> {
        Err(ProcessorError::Unavailable("injected: timed out".into()))
    }
}

#[tokio::test]
async fn a_processor_that_does_not_answer_is_a_503_saying_when_paying_again_is_safe() {
    let mut h = Harness::new().await;
    let link = h.create_seed_link().await;
    let session = h.open_session(&link).await;
    let sandbox = std::mem::replace(&mut h.app.processor, Arc::new(SilentProcessor));
    let (status, response) = h.pay(&session, SUCCESS).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    // Until the attempt's lease lapses, paying again only says "in progress".
    assert_eq!(response.headers()[header::RETRY_AFTER], ATTEMPT_LEASE.num_seconds().to_string());
    let page = body_text(&response);
    assert!(page.contains("could not confirm your payment") && page.contains("not be charged a second time"), "{page}");
    assert_eq!(h.pay(&session, SUCCESS).await.0, StatusCode::CONFLICT, "in progress");
    h.app.processor = sandbox;
    h.advance(ATTEMPT_LEASE + TimeDelta::seconds(1));
    let (status, _) = h.pay(&session, SUCCESS).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "paid once the processor answers");
    assert_eq!(link_state(&h, &link).await, (1, true));
}
