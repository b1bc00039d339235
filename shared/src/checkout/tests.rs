//! The pay flow against both stores: what a customer and a merchant would notice.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::TimeDelta;

use super::pay::{Cashier, PayForm, PayOutcome};
use super::processor::{
    ChargeRequest, Charged, InjectedProcessor, PaymentDetails, PaymentProcessor, ProcessorPayment, ReportingProcessor,
    SandboxProcessor, approved_charges, recorded_charges,
};
use super::processor::{
    TEST_CARD_DECLINED as DECLINED, TEST_CARD_INSUFFICIENT_FUNDS as INSUFFICIENT,
    TEST_CARD_PROCESSING_ERROR as PROCESSING_ERROR, TEST_CARD_SUCCESS as SUCCESS,
};
use crate::app::App;
use crate::error::ApiError;
use crate::model::{
    Cart, ChargeOutcome, CheckoutSession, DonationConfig, FailureCode, LinkId, PaymentAttempt, PaymentLink,
    SessionStatus, Unavailable,
};
use crate::money::MinorUnits;
use crate::store::{BeginAttempt, ClaimUse, Store};
use crate::test_support::{TestApp, TestMerchant, shop_checkout};

mod faults;
use faults::{
    a_processor_timeout_is_retried_without_a_second_charge,
    a_throttle_before_the_charge_lets_the_customer_retry_at_once,
    every_store_fault_during_a_pay_recovers_to_one_charge,
};

/// The merchant of every link, and where every test's clock starts.
const MERCHANT: TestMerchant = TestMerchant { id: "m_pay", name: "Shop", vault_key: "vk_pay", merchant_key: "mk_pay" };
const START: &str = "2026-03-01T09:00:00Z";

/// The test app, paid through the cashier ([`Pays`]).
type Harness = TestApp;

/// What the tests do with the app: make links, open sessions and pay them.
trait Pays {
    /// The app whose cashier is paid.
    fn app(&self) -> &App;

    /// A link of the merchant selling `cart`, valid for a week, stored.
    async fn link(&self, cart: Cart, usage_limit: Option<u64>) -> PaymentLink {
        let link = PaymentLink::new(MERCHANT.id, shop_checkout(cart), usage_limit, 7, self.app().now());
        self.app().store.create_link(&link).await.unwrap();
        link
    }

    async fn fixed_link(&self, usage_limit: Option<u64>) -> PaymentLink {
        self.link(Cart::Amount { amount: MinorUnits(5000) }, usage_limit).await
    }

    async fn open(&self, link: &PaymentLink) -> CheckoutSession {
        let session = CheckoutSession::open(link, self.app().now());
        self.app().store.create_session(&session).await.unwrap();
        session
    }

    /// `n` sessions of `link`, opened one after the other.
    async fn open_many(&self, link: &PaymentLink, n: usize) -> Vec<CheckoutSession> {
        let mut sessions = Vec::with_capacity(n);
        for _ in 0..n {
            sessions.push(self.open(link).await);
        }
        sessions
    }

    async fn pay(&self, session: &CheckoutSession, card: &str) -> PayOutcome {
        self.pay_form(session, form(session, card)).await.unwrap()
    }

    async fn pay_form(&self, session: &CheckoutSession, form: PayForm) -> Result<PayOutcome, ApiError> {
        Cashier::of(self.app()).pay(session.id.as_str(), &form, Some("198.51.100.7")).await
    }

    async fn pay_from(&self, session: &CheckoutSession, card: &str, client_ip: &str) -> PayOutcome {
        Cashier::of(self.app()).pay(session.id.as_str(), &form(session, card), Some(client_ip)).await.unwrap()
    }

    async fn link_now(&self, link: &PaymentLink) -> PaymentLink {
        self.app().store.get_link(&link.id).await.unwrap().unwrap()
    }

    async fn session_now(&self, session: &CheckoutSession) -> CheckoutSession {
        self.app().store.get_session(&session.id).await.unwrap().unwrap()
    }

    /// Every approved, not voided charge the processor recorded for this session.
    async fn approved_charges(&self, session: &CheckoutSession) -> Vec<String> {
        approved_charges(self.app().store.as_ref(), &self.session_now(session).await).await
    }

    /// How many charges of this session reached the processor, whatever it answered.
    async fn charges_tried(&self, session: &CheckoutSession) -> usize {
        let session = self.session_now(session).await;
        recorded_charges(self.app().store.as_ref(), &session).await.len()
    }

    /// A process that starts an attempt, holds the use, charges the card, then dies before
    /// recording the payment. Returns the approved transaction id.
    async fn crash_after_charging(&self, link: &PaymentLink, session: &CheckoutSession) -> String {
        let now = self.app().now();
        let begun = self
            .app()
            .store
            .begin_attempt(&session.id, MinorUnits(5000), now, now + PaymentAttempt::LEASE)
            .await
            .unwrap();
        let BeginAttempt::Started(attempt) = begun else { panic!("attempt should start, got {begun:?}") };
        let held = self.app().store.claim_use(&link.id, &session.id, now, attempt.lease_until).await.unwrap();
        assert!(matches!(held, ClaimUse::Claimed(_)), "{held:?}");
        let card = super::card::parse_card(SUCCESS, &a_year_after(now), "123", "Ada", now).unwrap();
        let request = ChargeRequest::of(session, &attempt);
        let sandbox = SandboxProcessor::new(self.app().store.clone());
        match sandbox.charge(&request, PaymentDetails::Card(&card)).await.unwrap() {
            Charged::Decided(ChargeOutcome::Approved { transaction_id, .. }) => transaction_id,
            other => panic!("approved expected, got {other:?}"),
        }
    }
}

impl Pays for TestApp {
    fn app(&self) -> &App {
        &self.app
    }
}

/// A card expiry (MM/YY) a year after `now`: valid on the test's clock whatever the year.
fn a_year_after(now: chrono::DateTime<chrono::Utc>) -> String {
    (now + TimeDelta::days(366)).format("%m/%y").to_string()
}

fn form(session: &CheckoutSession, card: &str) -> PayForm {
    PayForm {
        card_number: card.into(),
        expiry: a_year_after(session.created_at),
        cvc: "123".into(),
        cardholder_name: "Ada Lovelace".into(),
        form_token: session.form_token.clone(),
        ..PayForm::default()
    }
}

fn assert_paid(outcome: &PayOutcome) -> String {
    match outcome {
        PayOutcome::Paid(session) => {
            session.payment.as_ref().expect("paid sessions carry their payment").transaction_id.clone()
        }
        other => panic!("expected Paid, got {other:?}"),
    }
}

fn assert_try_again(outcome: PayOutcome, phrase: &str) {
    match outcome {
        PayOutcome::TryAgain { session, message } => {
            assert!(message.contains(phrase), "{message:?} lacks {phrase:?}");
            assert_eq!(session.status, SessionStatus::Pending);
        }
        PayOutcome::Declined { session, reason } => {
            assert!(reason.message().contains(phrase), "{reason:?} lacks {phrase:?}");
            assert_eq!(session.status, SessionStatus::Pending);
        }
        other => panic!("expected TryAgain or Declined ({phrase}), got {other:?}"),
    }
}

/// Every one of `sessions` paid with `card` at once, the `n`th from the address `address(n)`.
fn pay_at_once(
    h: &Arc<Harness>,
    sessions: &[CheckoutSession],
    card: &'static str,
    address: impl Fn(usize) -> String,
) -> Vec<tokio::task::JoinHandle<PayOutcome>> {
    let pay = |(n, session): (usize, &CheckoutSession)| {
        let (h, session, address) = (Arc::clone(h), session.clone(), address(n));
        tokio::spawn(async move { h.pay_from(&session, card, &address).await })
    };
    sessions.iter().enumerate().map(pay).collect()
}

/// Runs each test body once per store.
macro_rules! pay_flow_tests {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::TestApp::embedded(super::MERCHANT, super::START.parse().unwrap()).await).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::TestApp::dynamodb(super::MERCHANT, super::START.parse().unwrap()).await).await;
                }
            )*
        }
    };
}

pay_flow_tests!(
    a_success_completes_the_session_and_uses_the_link_once,
    a_decline_keeps_the_session_pending_and_uses_nothing,
    insufficient_funds_and_bad_cards_ask_the_customer_to_fix_them,
    a_processing_error_fails_the_session_and_returns_the_use,
    a_stale_form_token_is_refused,
    the_amount_charged_is_never_taken_from_the_form_for_fixed_links,
    donations_accept_presets_and_allowed_custom_amounts_only,
    closed_sessions_cannot_be_paid,
    deactivating_a_link_refuses_pays_on_open_sessions_without_charging,
    a_link_that_fills_up_while_the_customer_is_on_the_page_charges_nothing,
    a_crashed_attempt_is_taken_over_with_the_same_charge,
    a_crashed_charge_on_a_link_that_filled_meanwhile_is_voided,
    a_use_stays_held_while_the_customer_authenticates_with_the_bank,
    cancelling_at_the_banks_challenge_gives_the_use_back_at_once,
    cancelling_after_a_crashed_charge_completes_the_payment_instead,
    an_abandoned_hold_is_returned_when_its_lease_lapses,
    fifty_concurrent_pays_on_a_link_limited_to_five_complete_exactly_five,
    one_session_submitted_ten_times_at_once_is_charged_once,
    a_burst_of_declined_cards_from_a_hundred_addresses_reaches_the_processor_fifty_times,
    a_link_paid_more_than_its_unsettled_limit_in_a_minute_is_never_refused,
    fifty_bad_cards_on_one_link_are_refused_after_ten_declines_and_pause_it,
    one_client_declined_ten_times_is_refused_on_every_link,
    thirty_declined_cards_from_one_client_at_once_reach_the_processor_ten_times,
    a_client_paying_many_times_is_never_refused,
    every_store_fault_during_a_pay_recovers_to_one_charge,
    a_processor_timeout_is_retried_without_a_second_charge,
    a_throttle_before_the_charge_lets_the_customer_retry_at_once,
);

async fn a_success_completes_the_session_and_uses_the_link_once(h: Harness) {
    let link = h.fixed_link(Some(2)).await;
    let session = h.open(&link).await;
    let transaction_id = assert_paid(&h.pay(&session, SUCCESS).await);
    let stored = h.session_now(&session).await;
    assert_eq!(stored.status, SessionStatus::Completed);
    let payment = stored.payment.unwrap();
    assert_eq!(
        (payment.amount, payment.card_brand.as_str(), payment.card_last_four.as_str()),
        (MinorUnits(5000), "visa", "4242")
    );
    assert_eq!(payment.transaction_id, transaction_id);
    let link = h.link_now(&link).await;
    assert_eq!((link.used, link.reserved, link.claims.len()), (1, 1, 0));
    // Paying again returns the same outcome and charges nothing more.
    assert_eq!(assert_paid(&h.pay(&session, SUCCESS).await), transaction_id);
    assert_eq!(h.link_now(&link).await.used, 1);
    assert_eq!(h.approved_charges(&session).await, vec![transaction_id]);
}

async fn a_decline_keeps_the_session_pending_and_uses_nothing(h: Harness) {
    let link = h.fixed_link(Some(1)).await;
    let session = h.open(&link).await;
    assert_try_again(h.pay(&session, DECLINED).await, "declined");
    let stored = h.session_now(&session).await;
    assert_eq!((stored.status, stored.in_flight.is_none()), (SessionStatus::Pending, true));
    assert_eq!(h.link_now(&link).await.reserved, 0, "a decline never consumes a use");
    assert!(h.approved_charges(&session).await.is_empty());
    // The customer tries another card on the same session.
    assert_paid(&h.pay(&session, SUCCESS).await);
    assert_eq!(h.link_now(&link).await.used, 1);
}

async fn insufficient_funds_and_bad_cards_ask_the_customer_to_fix_them(h: Harness) {
    let link = h.fixed_link(Some(1)).await;
    let session = h.open(&link).await;
    assert_try_again(h.pay(&session, INSUFFICIENT).await, "insufficient funds");
    assert_try_again(h.pay(&session, "4242 4242 4242 4241").await, "not valid");
    assert_try_again(h.pay(&session, "5555 5555 5555 4444").await, "test mode");
    let mut expired = form(&session, SUCCESS);
    expired.expiry = "01/25".into();
    assert_try_again(h.pay_form(&session, expired).await.unwrap(), "expired");
    assert_eq!(h.link_now(&link).await.reserved, 0);
}

async fn a_processing_error_fails_the_session_and_returns_the_use(h: Harness) {
    let link = h.fixed_link(Some(1)).await;
    let session = h.open(&link).await;
    match h.pay(&session, PROCESSING_ERROR).await {
        PayOutcome::Failed { code, .. } => assert_eq!(code, FailureCode::SystemError),
        other => panic!("expected Failed, got {other:?}"),
    }
    let stored = h.session_now(&session).await;
    assert_eq!((stored.status, stored.failure_code), (SessionStatus::Failed, Some(FailureCode::SystemError)));
    assert_eq!(h.link_now(&link).await.reserved, 0);
    // The use is still there for the next customer.
    assert_paid(&h.pay(&h.open(&link).await, SUCCESS).await);
}

async fn a_stale_form_token_is_refused(h: Harness) {
    let link = h.fixed_link(None).await;
    let session = h.open(&link).await;
    let mut stale = form(&session, SUCCESS);
    stale.form_token = "0".repeat(32);
    assert!(matches!(h.pay_form(&session, stale).await, Err(ApiError::StaleForm)));
    assert_eq!(h.session_now(&session).await.attempts, 0);
}

async fn the_amount_charged_is_never_taken_from_the_form_for_fixed_links(h: Harness) {
    let link = h.fixed_link(None).await;
    let session = h.open(&link).await;
    let mut tampered = form(&session, SUCCESS);
    tampered.amount = Some("0.01".into());
    tampered.custom_amount = Some("0.01".into());
    let outcome = h.pay_form(&session, tampered).await.unwrap();
    assert_paid(&outcome);
    assert_eq!(h.session_now(&session).await.payment.unwrap().amount, MinorUnits(5000));
}

async fn donations_accept_presets_and_allowed_custom_amounts_only(h: Harness) {
    let donation = |allow_custom| DonationConfig {
        presets: vec![MinorUnits(2500), MinorUnits(5000)],
        default_amount: Some(MinorUnits(5000)),
        allow_custom_amount: allow_custom,
        min_amount: Some(MinorUnits(500)),
        max_amount: Some(MinorUnits(100_000)),
    };
    let open_link = h.link(Cart::Donation { donation: donation(true) }, None).await;
    let paid_amount = |amount: Option<&str>, custom: Option<&str>| {
        let h = &h;
        let link = open_link.clone();
        let (amount, custom) = (amount.map(String::from), custom.map(String::from));
        async move {
            let session = h.open(&link).await;
            let form = PayForm { amount, custom_amount: custom, ..form(&session, SUCCESS) };
            (h.pay_form(&session, form).await.unwrap(), session)
        }
    };
    let (outcome, session) = paid_amount(Some("25.00"), None).await;
    assert_paid(&outcome);
    assert_eq!(h.session_now(&session).await.payment.unwrap().amount, MinorUnits(2500));
    let (outcome, session) = paid_amount(Some("25.00"), Some("12.34")).await;
    assert_paid(&outcome);
    assert_eq!(h.session_now(&session).await.payment.unwrap().amount, MinorUnits(1234), "custom wins");
    assert_try_again(paid_amount(None, Some("1.00")).await.0, "smallest amount");
    assert_try_again(paid_amount(None, Some("2000.00")).await.0, "largest amount");
    assert_try_again(paid_amount(None, Some("12.345")).await.0, "decimal places");
    assert_try_again(paid_amount(None, None).await.0, "Choose an amount");

    let presets_only = h.link(Cart::Donation { donation: donation(false) }, None).await;
    let session = h.open(&presets_only).await;
    let custom = PayForm { custom_amount: Some("12.34".into()), ..form(&session, SUCCESS) };
    assert_try_again(h.pay_form(&session, custom).await.unwrap(), "one of the amounts");
}

async fn closed_sessions_cannot_be_paid(h: Harness) {
    let link = h.fixed_link(None).await;
    let expired = h.open(&link).await;
    let cancelled = h.open(&link).await;
    h.app.store.cancel_session(&cancelled.id, h.app.now()).await.unwrap();
    h.clock.advance(CheckoutSession::LIFETIME);
    for session in [&expired, &cancelled] {
        match h.pay(session, SUCCESS).await {
            PayOutcome::Closed(closed) => assert_ne!(closed.status_at(h.app.now()), SessionStatus::Pending),
            other => panic!("expected Closed, got {other:?}"),
        }
        assert!(h.approved_charges(session).await.is_empty());
    }
}

async fn deactivating_a_link_refuses_pays_on_open_sessions_without_charging(h: Harness) {
    let mut link = h.fixed_link(Some(3)).await;
    // A session opened while the link was active, then the merchant switched the link off
    // (stored here as a link that is already inactive: the session was opened before).
    link.id = LinkId::generate();
    link.active = false;
    h.app.store.create_link(&link).await.unwrap();
    let session = h.open(&link).await;
    match h.pay(&session, SUCCESS).await {
        PayOutcome::LinkUnavailable { reason, .. } => assert_eq!(reason, Unavailable::Inactive),
        other => panic!("expected LinkUnavailable, got {other:?}"),
    }
    assert!(h.approved_charges(&session).await.is_empty());
    assert_eq!(h.session_now(&session).await.status, SessionStatus::Pending);
    assert_eq!(h.link_now(&link).await.reserved, 0);
}

async fn a_link_that_fills_up_while_the_customer_is_on_the_page_charges_nothing(h: Harness) {
    let link = h.fixed_link(Some(1)).await;
    let first = h.open(&link).await;
    let second = h.open(&link).await;
    assert_paid(&h.pay(&first, SUCCESS).await);
    match h.pay(&second, SUCCESS).await {
        PayOutcome::LinkUnavailable { reason, .. } => assert_eq!(reason, Unavailable::LimitReached),
        other => panic!("expected LinkUnavailable, got {other:?}"),
    }
    assert!(h.approved_charges(&second).await.is_empty());
    assert_eq!(h.link_now(&link).await.used, 1);
}

async fn a_crashed_attempt_is_taken_over_with_the_same_charge(h: Harness) {
    let link = h.fixed_link(Some(1)).await;
    let session = h.open(&link).await;
    let transaction_id = h.crash_after_charging(&link, &session).await;
    // While its lease is live, a retry is told the payment is in progress.
    assert!(matches!(h.pay(&session, SUCCESS).await, PayOutcome::InProgress(_)));
    // After the lease lapses, the retry takes the attempt over: same key, same charge.
    h.clock.advance(PaymentAttempt::LEASE + TimeDelta::seconds(1));
    assert_eq!(assert_paid(&h.pay(&session, SUCCESS).await), transaction_id);
    assert_eq!(h.approved_charges(&session).await, vec![transaction_id]);
    let link = h.link_now(&link).await;
    assert_eq!((link.used, link.reserved), (1, 1));
}

async fn a_crashed_charge_on_a_link_that_filled_meanwhile_is_voided(h: Harness) {
    let link = h.fixed_link(Some(1)).await;
    let crashed = h.open(&link).await;
    h.crash_after_charging(&link, &crashed).await;
    h.clock.advance(PaymentAttempt::LEASE + TimeDelta::seconds(1));
    // The lapsed hold goes to the next customer, who pays.
    assert_paid(&h.pay(&h.open(&link).await, SUCCESS).await);
    // The crashed customer comes back: their charge is given back, never counted.
    match h.pay(&crashed, SUCCESS).await {
        PayOutcome::LinkUnavailable { reason, .. } => assert_eq!(reason, Unavailable::LimitReached),
        other => panic!("expected LinkUnavailable, got {other:?}"),
    }
    assert!(h.approved_charges(&crashed).await.is_empty(), "the charge is voided");
    assert_eq!(h.link_now(&link).await.used, 1);
}

/// A Stripe whose every charge asks for 3-D Secure, and that then reports `session`'s first
/// attempt as `charged` (what the bank decided).
fn stripe_asking_to_authenticate(h: &Harness, session: &CheckoutSession, charged: Charged) -> ReportingProcessor {
    let reported =
        ProcessorPayment { session_id: session.id.to_string(), attempt: 1, amount: MinorUnits(5000), charged };
    ReportingProcessor::new(h.app.store.clone(), reported).asking_for_authentication()
}

/// Pays `session` with a Stripe.js token through `cashier`: the bank asks the customer to
/// authenticate. The form posted, for the page's post back.
async fn pay_into_3d_secure(cashier: &Cashier<'_, dyn Store>, session: &CheckoutSession) -> PayForm {
    let posted =
        PayForm { form_token: session.form_token.clone(), payment_token: "tok_3ds".into(), ..PayForm::default() };
    let asked = cashier.pay(session.id.as_str(), &posted, Some("198.51.100.7")).await.unwrap();
    assert!(matches!(asked, PayOutcome::Authenticate { .. }), "{asked:?}");
    posted
}

/// 3-D Secure takes minutes: the last use of a link stays with the customer at the bank's
/// challenge past the attempt's lease, so that nobody else takes it and the charge, once
/// authenticated, completes instead of being refunded as "limit reached".
async fn a_use_stays_held_while_the_customer_authenticates_with_the_bank(h: Harness) {
    let link = h.fixed_link(Some(1)).await;
    let (at_the_bank, next) = (h.open(&link).await, h.open(&link).await);
    let approved = Charged::Decided(ChargeOutcome::Approved {
        transaction_id: "pi_reported".into(),
        card_brand: "visa".into(),
        card_last_four: "3184".into(),
    });
    let stripe = stripe_asking_to_authenticate(&h, &at_the_bank, approved);
    let cashier = Cashier { store: h.app.store.as_ref(), processor: &stripe, clock: h.app.clock.as_ref() };
    let posted = pay_into_3d_secure(&cashier, &at_the_bank).await;

    // Five minutes at the bank's challenge: the next customer finds the link full, and is not charged.
    h.clock.advance(TimeDelta::minutes(5));
    match h.pay(&next, SUCCESS).await {
        PayOutcome::LinkUnavailable { reason, .. } => assert_eq!(reason, Unavailable::LimitReached),
        other => panic!("expected the link to be full, got {other:?}"),
    }
    assert_eq!(h.charges_tried(&next).await, 0);

    // Back from the bank: the payment completes on the held use.
    let back = PayForm { payment_intent: "pi_reported".into(), ..posted };
    let outcome = cashier.pay(at_the_bank.id.as_str(), &back, Some("198.51.100.7")).await.unwrap();
    assert!(matches!(outcome, PayOutcome::Paid(_)), "{outcome:?}");
    let link = h.link_now(&link).await;
    assert_eq!((link.used, link.reserved, link.claims.len()), (1, 1, 0));
    assert_eq!(h.session_now(&at_the_bank).await.payment.unwrap().transaction_id, "pi_reported");
}

/// A customer who gives up at the bank's challenge and cancels frees the link's last use at
/// once, not when the hold renewed for the challenge lapses.
async fn cancelling_at_the_banks_challenge_gives_the_use_back_at_once(h: Harness) {
    let link = h.fixed_link(Some(1)).await;
    let (gives_up, next) = (h.open(&link).await, h.open(&link).await);
    let still_at_the_bank =
        Charged::NeedsAuthentication { payment_id: "pi_reported".into(), client_secret: "secret".into() };
    let stripe = stripe_asking_to_authenticate(&h, &gives_up, still_at_the_bank);
    let cashier = Cashier { store: h.app.store.as_ref(), processor: &stripe, clock: h.app.clock.as_ref() };
    pay_into_3d_secure(&cashier, &gives_up).await;
    h.clock.advance(TimeDelta::minutes(2));
    let cancelled = cashier.cancel(gives_up.id.as_str()).await.unwrap();
    assert!(matches!(cancelled, super::cancel::Cancelled::Cancelled(_)), "{cancelled:?}");
    assert_eq!(h.link_now(&link).await.claims.len(), 0, "the hold went with the cancel");
    assert_paid(&h.pay(&next, SUCCESS).await);
}

async fn cancelling_after_a_crashed_charge_completes_the_payment_instead(h: Harness) {
    use lambda_http::RequestExt;
    let link = h.fixed_link(Some(1)).await;
    let session = h.open(&link).await;
    let transaction_id = h.crash_after_charging(&link, &session).await;
    h.clock.advance(PaymentAttempt::LEASE + TimeDelta::seconds(1));
    let request = lambda_http::Request::default()
        .with_path_parameters(std::collections::HashMap::from([("sessionId".to_owned(), session.id.to_string())]));
    let response = crate::api::handle(crate::api::Endpoint::Cancel, request, &h.app).await;
    assert_eq!(response.status(), 200, "the paid page, not a redirect to cancelUrl");
    let stored = h.session_now(&session).await;
    assert_eq!(stored.status, SessionStatus::Completed);
    assert_eq!(stored.payment.unwrap().transaction_id, transaction_id);
    assert_eq!(h.link_now(&link).await.used, 1);
}

async fn an_abandoned_hold_is_returned_when_its_lease_lapses(h: Harness) {
    let link = h.fixed_link(Some(1)).await;
    let dead = h.open(&link).await;
    let now = h.app.now();
    h.app.store.begin_attempt(&dead.id, MinorUnits(5000), now, now + PaymentAttempt::LEASE).await.unwrap();
    h.app.store.claim_use(&link.id, &dead.id, now, now + PaymentAttempt::LEASE).await.unwrap();
    let next = h.open(&link).await;
    assert!(matches!(h.pay(&next, SUCCESS).await, PayOutcome::LinkUnavailable { .. }), "the hold is live");
    h.clock.advance(PaymentAttempt::LEASE + TimeDelta::seconds(1));
    assert_paid(&h.pay(&next, SUCCESS).await);
    let link = h.link_now(&link).await;
    assert_eq!((link.used, link.reserved, link.claims.len()), (1, 1, 0));
}

async fn fifty_concurrent_pays_on_a_link_limited_to_five_complete_exactly_five(h: Harness) {
    let link = h.fixed_link(Some(5)).await;
    let sessions = h.open_many(&link, 50).await;
    let h = Arc::new(h);
    // Fifty customers, each from their own address (one address with ten attempts in flight at
    // once is refused more: see `thirty_declined_cards_from_one_client_at_once_…`).
    let tasks = pay_at_once(&h, &sessions, SUCCESS, |n| format!("203.0.113.{n}"));
    let (mut paid, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            PayOutcome::Paid(_) => paid += 1,
            PayOutcome::LinkUnavailable { reason: Unavailable::LimitReached, .. } => refused += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((paid, refused), (5, 45));
    let stored = h.link_now(&link).await;
    assert_eq!((stored.used, stored.reserved, stored.claims.len()), (5, 5, 0));
    let mut charged = 0;
    for session in &sessions {
        charged += h.approved_charges(session).await.len();
    }
    assert_eq!(charged, 5, "refused customers are never charged");
}

async fn one_session_submitted_ten_times_at_once_is_charged_once(h: Harness) {
    let link = h.fixed_link(None).await;
    let session = h.open(&link).await;
    let h = Arc::new(h);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (h, session) = (Arc::clone(&h), session.clone());
            tokio::spawn(async move { h.pay(&session, SUCCESS).await })
        })
        .collect();
    let mut transactions = HashSet::new();
    for task in tasks {
        match task.await.unwrap() {
            PayOutcome::Paid(paid) => {
                transactions.insert(paid.payment.unwrap().transaction_id);
            }
            PayOutcome::InProgress(_) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(transactions.len(), 1, "every success reports the one charge");
    assert_eq!(h.approved_charges(&session).await.len(), 1);
    assert_eq!(h.link_now(&link).await.used, 1);
}

async fn fifty_bad_cards_on_one_link_are_refused_after_ten_declines_and_pause_it(h: Harness) {
    let link = h.fixed_link(None).await;
    let (mut declined, mut refused, mut charged_attempts) = (0, 0, 0);
    for n in 0..50 {
        // A card tester rotates IPs: only the link's own count can stop it.
        let session = h.open(&link).await;
        match h.pay_from(&session, DECLINED, &format!("203.0.113.{n}")).await {
            PayOutcome::Declined { .. } => declined += 1,
            PayOutcome::TooManyAttempts { retry_after_seconds, .. } => {
                assert!((1..=600).contains(&retry_after_seconds));
                refused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
        charged_attempts += h.charges_tried(&session).await;
    }
    assert_eq!((declined, refused), (10, 40));
    assert_eq!(charged_attempts, 10, "refused tries never reach the processor");
    let paused = h.link_now(&link).await;
    assert!(!paused.active, "a spike of declines pauses the link");
    assert!(paused.pause_reason.as_deref().is_some_and(|r| r.contains("card testing")), "{:?}", paused.pause_reason);
    // The window passes: customers can pay again once the merchant re-activates the link.
    h.clock.advance(super::guard::WINDOW);
    h.app.store.set_link_active(&link.id, true, None, h.app.now()).await.unwrap();
    assert_paid(&h.pay_from(&h.open(&link).await, SUCCESS, "203.0.113.200").await);
}

async fn one_client_declined_ten_times_is_refused_on_every_link(h: Harness) {
    for _ in 0..10 {
        let link = h.fixed_link(None).await;
        assert!(matches!(h.pay_from(&h.open(&link).await, DECLINED, "192.0.2.9").await, PayOutcome::Declined { .. }));
    }
    let fresh = h.fixed_link(None).await;
    let session = h.open(&fresh).await;
    assert!(matches!(h.pay_from(&session, SUCCESS, "192.0.2.9").await, PayOutcome::TooManyAttempts { .. }));
    assert!(h.approved_charges(&session).await.is_empty());
    // Other customers of that link are not affected.
    assert_paid(&h.pay_from(&h.open(&fresh).await, SUCCESS, "192.0.2.10").await);
}

async fn thirty_declined_cards_from_one_client_at_once_reach_the_processor_ten_times(h: Harness) {
    // A card tester submits a batch at once, one session each: every submit read the count
    // before any decline was counted, so a count checked apart from its increment let all in.
    let link = h.fixed_link(None).await;
    let sessions = h.open_many(&link, 30).await;
    let h = Arc::new(h);
    let tasks = pay_at_once(&h, &sessions, DECLINED, |_| "192.0.2.77".to_owned());
    let (mut declined, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            PayOutcome::Declined { .. } => declined += 1,
            PayOutcome::TooManyAttempts { .. } => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((declined, refused), (super::guard::DECLINES_PER_CLIENT as usize, 20));
    let mut charged_attempts = 0;
    for session in &sessions {
        charged_attempts += h.charges_tried(session).await;
    }
    assert_eq!(charged_attempts, 10, "refused submits never reach the processor");
    assert!(h.link_now(&link).await.active, "one client alone never pauses a link");
}

async fn a_burst_of_declined_cards_from_a_hundred_addresses_reaches_the_processor_fifty_times(mut h: Harness) {
    // A card tester with many addresses submits a batch at once, one session and address each:
    // no decline is known while they are charged, so only a count taken as each attempt begins
    // can stop the batch; the link's block and pause then follow from the declines.
    let gated = Arc::new(InjectedProcessor::gated(h.app.store.clone()));
    h.app.processor = gated.clone();
    let link = h.fixed_link(None).await;
    let sessions = h.open_many(&link, 100).await;
    let h = Arc::new(h);
    let tasks = pay_at_once(&h, &sessions, DECLINED, |n| format!("203.0.113.{n}"));
    // Every submit either waits at the processor or was refused before it.
    let settled = async || {
        while gated.charges_asked() + tasks.iter().filter(|task| task.is_finished()).count() < tasks.len() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), settled()).await.expect("the burst settles");
    let limit = super::guard::UNSETTLED_ATTEMPTS_PER_LINK as usize;
    assert_eq!(gated.charges_asked(), limit, "submits reaching the processor before any answer");
    gated.open();
    let (mut declined, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            PayOutcome::Declined { .. } => declined += 1,
            PayOutcome::TooManyAttempts { retry_after_seconds, .. } => {
                assert!((1..=60).contains(&retry_after_seconds), "{retry_after_seconds}");
                refused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((declined, refused), (limit, 100 - limit));
    let paused = h.link_now(&link).await;
    assert!(!paused.active, "declines from many clients pause the link");
    // The next minute, the batch again: the link is blocked and paused, nothing is charged.
    h.clock.advance(TimeDelta::minutes(1));
    let again = h.open(&link).await;
    assert!(matches!(
        h.pay_from(&again, DECLINED, "203.0.113.250").await,
        PayOutcome::TooManyAttempts { .. } | PayOutcome::LinkUnavailable { .. }
    ));
    assert_eq!(gated.charges_asked(), limit);
}

async fn a_link_paid_more_than_its_unsettled_limit_in_a_minute_is_never_refused(h: Harness) {
    // A payment gives its place among the link's unsettled attempts back.
    let link = h.fixed_link(None).await;
    for n in 0..super::guard::UNSETTLED_ATTEMPTS_PER_LINK + 5 {
        assert_paid(&h.pay_from(&h.open(&link).await, SUCCESS, &format!("198.51.100.{n}")).await);
    }
}

async fn a_client_paying_many_times_is_never_refused(h: Harness) {
    // An office behind one address: each attempt counts while it runs, and a payment gives the
    // count back, so only declines add up.
    let link = h.fixed_link(None).await;
    for _ in 0..2 * super::guard::DECLINES_PER_CLIENT {
        assert_paid(&h.pay_from(&h.open(&link).await, SUCCESS, "192.0.2.88").await);
    }
    for _ in 0..super::guard::DECLINES_PER_CLIENT - 1 {
        assert!(matches!(h.pay_from(&h.open(&link).await, DECLINED, "192.0.2.88").await, PayOutcome::Declined { .. }));
    }
    assert_paid(&h.pay_from(&h.open(&link).await, SUCCESS, "192.0.2.88").await);
}

/// `PayForm`'s `Debug` is what a `tracing` field or a panic message would print of a pay:
/// it must never carry the card.
mod pay_form_debug {
    use super::PayForm;

    /// Every way the secrets could be written: with and without separators.
    fn secrets(form: &PayForm) -> Vec<String> {
        let digits: String = form.card_number.chars().filter(char::is_ascii_digit).collect();
        let expiry_digits: String = form.expiry.chars().filter(char::is_ascii_digit).collect();
        vec![form.card_number.clone(), digits, form.expiry.clone(), expiry_digits, form.cvc.clone()]
    }

    fn assert_redacted(form: &PayForm) {
        for shown in [format!("{form:?}"), format!("{form:#?}")] {
            for secret in secrets(form) {
                assert!(!shown.contains(&secret), "Debug shows {secret:?}: {shown}");
            }
            // Not vacuous: the amounts (which are not secret) are there.
            assert!(shown.contains("PayForm") && shown.contains("25.00"), "{shown}");
        }
    }

    #[test]
    fn never_shows_the_card_number_expiry_or_cvc() {
        let visa = PayForm {
            card_number: "4242 4242 4242 4242".into(),
            expiry: "08/29".into(),
            cvc: "987".into(),
            cardholder_name: "Ada Lovelace".into(),
            amount: Some("25.00".into()),
            custom_amount: None,
            form_token: "token".into(),
            ..PayForm::default()
        };
        assert_redacted(&visa);
        let amex = PayForm {
            card_number: "3782-822463-10005".into(),
            expiry: "11 / 2031".into(),
            cvc: "7391".into(),
            custom_amount: Some("25.00".into()),
            ..PayForm::default()
        };
        assert_redacted(&amex);
    }

    #[test]
    fn a_parsed_form_body_never_shows_the_card_either() {
        let body = "cardNumber=5555+5555+5555+4444&expiry=07%2F30&cvc=654&cardholderName=Ada&amount=25.00&formToken=t";
        let form = PayForm::parse(body.as_bytes());
        assert_eq!(
            (form.card_number.as_str(), form.expiry.as_str(), form.cvc.as_str()),
            ("5555 5555 5555 4444", "07/30", "654")
        );
        assert_redacted(&form);
    }
}
