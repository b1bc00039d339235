//! DynamoDB under contention, through the handlers as Lambda calls them: each write of a pay
//! is refused as a busy table refuses it (moto alone serializes every request, so this never
//! happens otherwise). A passing `TransactionConflict` is retried away; a
//! conflict that lasts, or throttling, is a 503 with `Retry-After`. Never a 500, never "limit
//! reached" for a link that is not, and paying again pays exactly once: no oversell.

use std::sync::Arc;

use lambda_http::http::{StatusCode, header};

use super::faults::{DECLINED, SUCCESS, pay_until_paid};
use super::{Calls, Endpoint, body_text, harness_on, open_event};
use crate::test_support::{Contention, ContentionInjector, contended_client, fresh_dynamo_store_with, moto_endpoint};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_write_of_a_pay_refused_by_a_busy_table_ends_paid_once() {
    let injector = ContentionInjector::default();
    let store = fresh_dynamo_store_with(contended_client(&moto_endpoint().await, &injector)).await;
    let h = harness_on(Arc::new(store)).await;

    // The writes a paid pay makes (the seed link is for one payment, so its use is claimed).
    let link = h.create_seed_link().await;
    let session = h.open_session(&link).await;
    let before = injector.writes();
    assert_eq!(h.pay(&session, SUCCESS).await.0, StatusCode::SEE_OTHER);
    let writes = injector.writes() - before;
    let operations = injector.operations()[before..].to_vec();
    assert!(writes >= 3, "begin, claim and complete at least: {writes}");

    for (write, operation) in operations.iter().enumerate() {
        for (contention, count) in [(Contention::Conflict, 1), (Contention::Conflict, 20), (Contention::Throttled, 20)]
        {
            let what = format!("pay, write {write} of {writes} refused {count}× as {contention:?}");
            let link = h.create_seed_link().await;
            let session = h.open_session(&link).await;
            injector.refuse(write, count, contention);
            let (status, response) = h.pay(&session, SUCCESS).await;
            injector.heal();
            match status {
                StatusCode::SEE_OTHER => {}
                StatusCode::SERVICE_UNAVAILABLE => {
                    assert!(response.headers().contains_key(header::RETRY_AFTER), "{what}: Retry-After");
                }
                other => panic!("{what}: {other}: {}", body_text(&response)),
            }
            // A passing conflict on a conditional update or a transaction is decided again, so
            // the customer never sees it.
            let retried = matches!(*operation, "UpdateItem" | "TransactWriteItems");
            if contention == Contention::Conflict && count == 1 && retried {
                assert_eq!(status, StatusCode::SEE_OTHER, "{what} ({operation})");
            }
            pay_until_paid(&h, &link, &session, false, &what).await;
        }
    }
}

/// An open is one transaction (the session and the client's count): a passing conflict on it is
/// sent again; a table that stays busy, or throttles, is a 503 with `Retry-After`, never a 500
/// nor the 429 of a client over its limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_open_refused_by_a_busy_table_is_sent_again_or_answered_503() {
    let injector = ContentionInjector::default();
    let store = fresh_dynamo_store_with(contended_client(&moto_endpoint().await, &injector)).await;
    let h = harness_on(Arc::new(store)).await;
    let link = h.create_seed_link().await;
    for (contention, count) in [(Contention::Conflict, 1), (Contention::Conflict, 20), (Contention::Throttled, 20)] {
        let what = format!("open refused {count}× as {contention:?}");
        injector.refuse(0, count, contention);
        let (status, response) = h.call(Endpoint::OpenLink, open_event(link.as_str())).await;
        injector.heal();
        match (contention, count) {
            (Contention::Conflict, 1) => assert_eq!(status, StatusCode::SEE_OTHER, "{what}: {}", body_text(&response)),
            _ => {
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {}", body_text(&response));
                assert!(response.headers().contains_key(header::RETRY_AFTER), "{what}: Retry-After");
            }
        }
    }
    assert_eq!(injector.operations().last(), Some(&"TransactWriteItems"), "an open writes in one transaction");
}

/// Every transaction a pay sends — the begin that checks a link without a usage limit, the end
/// of a declined attempt (with its hold and its count), the completion — is sent again when it
/// meets another transaction on one of its items (DynamoDB cancels it with a
/// `TransactionConflict` reason and writes nothing): the customer never sees a passing conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_passing_conflict_on_any_transaction_of_a_pay_is_sent_again() {
    let injector = ContentionInjector::default();
    let store = fresh_dynamo_store_with(contended_client(&moto_endpoint().await, &injector)).await;
    let h = harness_on(Arc::new(store)).await;
    for (usage_limit, card) in [(None, SUCCESS), (None, DECLINED), (Some(1), DECLINED)] {
        let limit = usage_limit.map_or(serde_json::Value::Null, serde_json::Value::from);
        let new_link = || h.create_link_with(|body| body["usageLimit"] = limit.clone());
        let session = h.open_session(&new_link().await).await;
        let before = injector.writes();
        let (done, _) = h.pay(&session, card).await;
        let operations = injector.operations()[before..].to_vec();
        let transactions = operations.iter().enumerate().filter(|(_, operation)| **operation == "TransactWriteItems");
        let mut refused = 0;
        for (write, _) in transactions {
            let what = format!("{card} on a link limited to {usage_limit:?}, transaction at write {write}");
            let session = h.open_session(&new_link().await).await;
            injector.refuse(write, 1, Contention::Conflict);
            let (status, response) = h.pay(&session, card).await;
            injector.heal();
            assert_eq!(status, done, "{what}: {}", body_text(&response));
            refused += 1;
        }
        assert!(refused > 0, "{card} on a link limited to {usage_limit:?} sends a transaction");
    }
}
