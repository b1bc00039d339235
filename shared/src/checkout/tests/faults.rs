//! Injected faults at every step of a pay, on both stores: whatever fails, the customer is
//! charged at most once, no use leaks, and the client is told to retry (503), never "limit
//! reached" because of a throttle.

use std::sync::Arc;

use chrono::TimeDelta;

use super::super::pay::{Cashier, PayOutcome};
use super::super::processor::InjectedProcessor;
use super::{Harness, Pays, SUCCESS, assert_paid};
use crate::error::ApiError;
use crate::model::PaymentAttempt;
use crate::model::{CheckoutSession, SessionStatus};
use crate::store::faulty::{Fault, FaultyStore};

/// Pays until the session is paid, as a customer pressing "Pay" again would; returns how
/// many tries it took. A try told "in progress" waits for the lease to lapse first.
async fn pay_until_paid(h: &Harness, session: &CheckoutSession) -> usize {
    for tries in 1..=6 {
        match Cashier::of(&h.app).pay(session.id.as_str(), &super::form(session, SUCCESS), Some("198.51.100.7")).await {
            Ok(PayOutcome::Paid(_)) => return tries,
            Ok(PayOutcome::InProgress(_)) | Err(ApiError::StoreUnavailable | ApiError::ProcessorUnavailable) => {
                h.clock.advance(PaymentAttempt::LEASE + TimeDelta::seconds(1));
            }
            other => panic!("a retry after a fault must pay, got {other:?}"),
        }
    }
    panic!("not paid after 6 tries");
}

/// The invariants after any fault: one completed payment, one charge, no leaked hold.
async fn assert_paid_once(h: &Harness, link: &crate::model::PaymentLink, session: &CheckoutSession, what: &str) {
    let stored = h.session_now(session).await;
    assert_eq!(stored.status, SessionStatus::Completed, "{what}");
    assert_eq!(h.approved_charges(session).await.len(), 1, "{what}: exactly one charge");
    h.clock.advance(PaymentAttempt::LEASE + TimeDelta::seconds(1));
    let link = h.link_now(link).await;
    assert_eq!(link.used, 1, "{what}: one use");
    let live_holds = link.claims.values().filter(|until| **until > h.app.now()).count();
    assert_eq!(live_holds, 0, "{what}: no hold outlives its lease");
}

pub(super) async fn every_store_fault_during_a_pay_recovers_to_one_charge(mut h: Harness) {
    let faulty = Arc::new(FaultyStore::new(Arc::clone(&h.app.store)));
    h.app.store = faulty.clone();
    // How many store calls a healthy pay makes: every one of them gets its turn to fail.
    let link = h.fixed_link(Some(1)).await;
    let session = h.open(&link).await;
    let before = faulty.calls();
    assert_paid(&h.pay(&session, SUCCESS).await);
    let steps = faulty.calls() - before;
    assert!(steps >= 4, "a pay makes several store calls ({steps})");

    for step in 0..steps {
        for fault in [Fault::Throttle, Fault::Ambiguous] {
            let what = format!("{fault:?} at store call {step} of {steps}");
            let link = h.fixed_link(Some(1)).await;
            let session = h.open(&link).await;
            faulty.fail_call(step, fault);
            let first = Cashier::of(&h.app).pay(session.id.as_str(), &super::form(&session, SUCCESS), None).await;
            faulty.heal();
            match first {
                Ok(PayOutcome::Paid(_)) | Err(ApiError::StoreUnavailable) => {}
                Ok(PayOutcome::LinkUnavailable { reason, .. }) => panic!("{what}: a fault reported as {reason:?}"),
                other => panic!("{what}: unexpected {other:?}"),
            }
            pay_until_paid(&h, &session).await;
            assert_paid_once(&h, &link, &session, &what).await;
        }
    }
}

/// A store throttled before the processor was asked to charge leaves nothing in flight: the
/// customer's immediate retry pays, rather than being told "in progress" for the lease.
pub(super) async fn a_throttle_before_the_charge_lets_the_customer_retry_at_once(mut h: Harness) {
    let faulty = Arc::new(FaultyStore::new(Arc::clone(&h.app.store)));
    h.app.store = faulty.clone();
    let processor = Arc::new(InjectedProcessor::new(faulty.clone(), 0, false));
    h.app.processor = processor.clone();
    let charges = || processor.charges_asked();
    let link = h.fixed_link(Some(1)).await;
    let session = h.open(&link).await;
    let before = faulty.calls();
    assert_paid(&h.pay(&session, SUCCESS).await);
    let calls = faulty.calls() - before;

    let (mut after_the_attempt_began, mut after_the_charge) = (0, 0);
    for call in 0..calls {
        let link = h.fixed_link(Some(1)).await;
        let session = h.open(&link).await;
        let charges_before = charges();
        faulty.fail_call(call, Fault::Throttle);
        let first = Cashier::of(&h.app).pay(session.id.as_str(), &super::form(&session, SUCCESS), None).await;
        faulty.heal();
        let charged = charges() != charges_before;
        if !matches!(first, Err(ApiError::StoreUnavailable | ApiError::ProcessorUnavailable)) {
            continue;
        }
        let retry = Cashier::of(&h.app).pay(session.id.as_str(), &super::form(&session, SUCCESS), None).await;
        let what = format!("throttle at store call {call}");
        if charged {
            // The processor was asked: its answer is settled by whoever takes the attempt over
            // after the lease, never by a second charge now.
            after_the_charge += 1;
            assert!(matches!(retry, Ok(PayOutcome::InProgress(_))), "{what}: retry got {retry:?}");
            h.clock.advance(PaymentAttempt::LEASE + TimeDelta::seconds(1));
            pay_until_paid(&h, &session).await;
        } else {
            after_the_attempt_began += usize::from(h.session_now(&session).await.attempts > 0);
            assert!(matches!(retry, Ok(PayOutcome::Paid(_))), "{what}: retry got {retry:?}");
        }
        assert_paid_once(&h, &link, &session, &what).await;
    }
    // The case this is about: the attempt had begun (the use claim failed), nothing charged.
    assert!(after_the_attempt_began >= 1, "no throttle fell between the attempt and the charge");
    assert!(after_the_charge >= 1, "no throttle fell after the charge");
}

pub(super) async fn a_processor_timeout_is_retried_without_a_second_charge(mut h: Harness) {
    for charge_before_failing in [false, true] {
        let what = if charge_before_failing { "timeout after charging" } else { "timeout before charging" };
        // The first charge times out, before or after charging.
        h.app.processor = Arc::new(InjectedProcessor::new(h.app.store.clone(), 1, charge_before_failing));
        let link = h.fixed_link(Some(1)).await;
        let session = h.open(&link).await;
        let first = Cashier::of(&h.app).pay(session.id.as_str(), &super::form(&session, SUCCESS), None).await;
        assert!(matches!(first, Err(ApiError::ProcessorUnavailable)), "{what}: the customer is asked to retry");
        // Retried at once: the first attempt may still be running somewhere.
        assert!(matches!(h.pay(&session, SUCCESS).await, PayOutcome::InProgress(_)), "{what}");
        pay_until_paid(&h, &session).await;
        assert_paid_once(&h, &link, &session, what).await;
    }
}
