use super::*;

#[test]
fn stripe_decline_codes_become_the_customer_message_they_mean() {
    // https://docs.stripe.com/declines/codes and https://docs.stripe.com/testing#declined-payments
    let cases = [
        (Some("card_declined"), Some("generic_decline"), DeclineReason::Declined),
        (Some("card_declined"), Some("insufficient_funds"), DeclineReason::InsufficientFunds),
        (Some("expired_card"), None, DeclineReason::ExpiredCard),
        (Some("incorrect_cvc"), None, DeclineReason::IncorrectCvc),
        (Some("card_declined"), Some("incorrect_cvc"), DeclineReason::IncorrectCvc),
        (Some("payment_intent_authentication_failure"), None, DeclineReason::AuthenticationFailed),
        (Some("card_declined"), None, DeclineReason::Declined),
        (None, None, DeclineReason::Declined),
    ];
    for (code, decline_code, expected) in cases {
        assert_eq!(decline_reason(code, decline_code), expected, "{code:?} / {decline_code:?}");
    }
}

#[test]
fn the_merchants_metadata_goes_to_stripe_within_its_limits() {
    let long_key = "k".repeat(41);
    let metadata = serde_json::json!({
        "invoiceId": "INV-1",
        "total": 12.5,
        "tags": ["a", "b"],
        long_key: "dropped: key over 40 characters",
        "note": "x".repeat(501),
        "sessionId": "cannot override ours",
        "a[b]": "brackets would nest",
    });
    let params = merchant_metadata(&metadata.to_string());
    assert_eq!(
        params,
        vec![
            ("metadata[invoiceId]".to_owned(), "INV-1".to_owned()),
            ("metadata[total]".to_owned(), "12.5".to_owned()),
            ("metadata[tags]".to_owned(), r#"["a","b"]"#.to_owned()),
        ]
    );
    let many: serde_json::Map<String, serde_json::Value> =
        (0..60).map(|i| (format!("key{i:02}"), serde_json::json!("v"))).collect();
    assert_eq!(merchant_metadata(&serde_json::Value::Object(many).to_string()).len(), 47, "50 keys in all at Stripe");
    assert!(merchant_metadata("{}").is_empty() && merchant_metadata("not json").is_empty());
}

#[test]
fn only_a_stripe_token_is_taken_from_the_form() {
    // The page posts `tok_…`; nothing that could be a card number or another object id.
    assert!(crate::checkout::pay::is_stripe_id("tok_", "tok_1NXWPnCo6bFb1KQto6C8OWvE"));
    for bad in ["", "tok_", "4242424242424242", "pm_card_visa", "tok_a b", "tok_<script>"] {
        assert!(!crate::checkout::pay::is_stripe_id("tok_", bad), "{bad}");
    }
    // The PaymentIntent posted back from 3-D Secure goes into an API path: only `pi_…`.
    assert!(crate::checkout::pay::is_stripe_id("pi_", "pi_3NXWPnCo6bFb1KQt0xYz"));
    for bad in ["../customers/cus_1", "pi_1/cancel", "pi_1?expand[]=customer", "tok_1", "pi_"] {
        assert!(!crate::checkout::pay::is_stripe_id("pi_", bad), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------------
// The adapter against Stripe's documented answers (https://docs.stripe.com/api), served by a
// stub, for what localstripe cannot play: Connect's Stripe-Account, rate limits and 5xx,
// declines at confirm with a decline code, idempotent replays, refunds.

use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::checkout::processor::{ChargeRequest, Charged, PaymentDetails, PaymentProcessor, ProcessorError};
use crate::model::{Cart, CheckoutSession, PaymentAttempt, PaymentLink};
use crate::money::MinorUnits;
use crate::test_support::{shop_checkout, test_stripe_js};

const TOKEN: &str = "tok_1NXWPnCo6bFb1KQto6C8OWvE";

fn session(stripe_account: Option<&str>) -> (CheckoutSession, PaymentAttempt) {
    let now = chrono::Utc::now();
    let mut checkout = shop_checkout(Cart::Amount { amount: MinorUnits(5000) });
    checkout.metadata = r#"{"invoiceId":"INV-1"}"#.to_owned();
    checkout.stripe_account = stripe_account.map(str::to_owned);
    let link = PaymentLink::new("m_1", checkout, None, 7, now);
    let session = CheckoutSession::open(&link, now);
    let lease_until = now + PaymentAttempt::LEASE;
    let attempt = PaymentAttempt { number: 1, amount: MinorUnits(5000), lease_until, counters: Vec::new() };
    (session, attempt)
}

async fn stripe_at(server: &MockServer) -> StripeProcessor {
    StripeProcessor::new(test_stripe_js(&server.uri()), SecretString::from("sk_test_stub")).expect("client")
}

fn customer() -> Value {
    json!({ "id": "cus_1", "object": "customer",
            "sources": { "object": "list", "data": [{ "id": "card_1", "object": "card", "brand": "Visa", "last4": "4242" }] } })
}

fn intent(status: &str) -> Value {
    json!({ "id": "pi_1", "object": "payment_intent", "status": status, "amount": 5000, "currency": "usd",
            "client_secret": "pi_1_secret_abc", "customer": "cus_1", "payment_method": "card_1",
            "metadata": { "sessionId": "cs_x", "attempt": "1" } })
}

/// Stripe's answers to the four calls of a charge, the last (confirm) being `confirmed`.
async fn answer_a_charge(server: &MockServer, confirmed: ResponseTemplate) {
    answer(server, "POST", "/v1/customers", 200, customer()).await;
    answer(server, "POST", "/v1/payment_intents", 200, intent("requires_payment_method")).await;
    answer(server, "POST", "/v1/payment_intents/pi_1", 200, intent("requires_confirmation")).await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents/pi_1/confirm"))
        .respond_with(confirmed)
        .mount(server)
        .await;
    let card = json!({ "id": "card_1", "object": "card", "brand": "Visa", "last4": "4242" });
    answer(server, "GET", "/v1/customers/cus_1/sources/card_1", 200, card).await;
}

/// Stripe answering `verb` `at` with `status` and `body`.
async fn answer(server: &MockServer, verb: &str, at: &str, status: u16, body: Value) {
    let answered = ResponseTemplate::new(status).set_body_json(body);
    Mock::given(method(verb)).and(path(at)).respond_with(answered).mount(server).await;
}

fn declined(decline_code: &str) -> ResponseTemplate {
    ResponseTemplate::new(402).set_body_json(json!({ "error": {
        "type": "card_error", "code": "card_declined", "decline_code": decline_code,
        "message": "Your card was declined.", "payment_intent": intent("requires_payment_method") } }))
}

#[tokio::test]
async fn a_connect_merchants_payment_is_made_on_its_account_with_every_request_keyed_and_versioned() {
    let server = MockServer::start().await;
    answer_a_charge(&server, ResponseTemplate::new(200).set_body_json(intent("succeeded"))).await;
    let stripe = stripe_at(&server).await;
    let (session, attempt) = session(Some("acct_1Connected"));
    let request = ChargeRequest::of(&session, &attempt);

    let charged = stripe.charge(&request, PaymentDetails::StripeToken(TOKEN)).await.expect("charged");
    let approved = ChargeOutcome::Approved {
        transaction_id: "pi_1".into(),
        card_brand: "Visa".into(),
        card_last_four: "4242".into(),
    };
    assert_eq!(charged, Charged::Decided(approved));

    let received = server.received_requests().await.expect("recorded");
    assert_eq!(received.len(), 5, "customer, create, update, confirm, card");
    for sent in &received {
        let header_of = |name: &str| sent.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(header_of("stripe-account").as_deref(), Some("acct_1Connected"), "{}", sent.url);
        assert_eq!(header_of("stripe-version").as_deref(), Some(client::API_VERSION), "{}", sent.url);
        assert_eq!(header_of("authorization").as_deref(), Some("Bearer sk_test_stub"), "{}", sent.url);
        if sent.method.as_str() == "POST" {
            assert!(header_of("idempotency-key").is_some_and(|key| key.starts_with(&request.idempotency_key)));
        }
    }
    let create = received.iter().find(|r| r.url.path() == "/v1/payment_intents").expect("the create");
    assert_eq!(create.headers.get("idempotency-key").unwrap(), request.idempotency_key.as_str());
    let body = String::from_utf8_lossy(&create.body);
    for part in ["amount=5000", "currency=usd", "metadata%5BsessionId%5D=", "metadata%5BinvoiceId%5D=INV-1"] {
        assert!(body.contains(part), "{part} in {body}");
    }
    assert!(!body.contains(TOKEN), "the keyed create holds nothing a retry would change: {body}");
}

#[tokio::test]
async fn a_decline_at_confirm_keeps_its_reason_and_3d_secure_hands_over_the_client_secret() {
    let server = MockServer::start().await;
    answer_a_charge(&server, declined("insufficient_funds")).await;
    let (session, attempt) = session(None);
    let request = ChargeRequest::of(&session, &attempt);
    let charged = stripe_at(&server).await.charge(&request, PaymentDetails::StripeToken(TOKEN)).await;
    let insufficient = ChargeOutcome::Declined { reason: DeclineReason::InsufficientFunds };
    assert_eq!(charged.expect("decided"), Charged::Decided(insufficient));
    let no_stripe_account =
        server.received_requests().await.unwrap().iter().all(|r| !r.headers.contains_key("stripe-account"));
    assert!(no_stripe_account, "a platform merchant's payment is on the platform's account");

    let server = MockServer::start().await;
    answer_a_charge(&server, ResponseTemplate::new(200).set_body_json(intent("requires_action"))).await;
    let charged = stripe_at(&server).await.charge(&request, PaymentDetails::StripeToken(TOKEN)).await;
    let authenticate =
        Charged::NeedsAuthentication { payment_id: "pi_1".into(), client_secret: "pi_1_secret_abc".into() };
    assert_eq!(charged.expect("decided"), authenticate);
}

#[tokio::test]
async fn rate_limits_server_errors_and_silence_are_unavailable_never_a_decline() {
    let (session, attempt) = session(None);
    let request = ChargeRequest::of(&session, &attempt);
    let rate_limited = ResponseTemplate::new(429).set_body_json(json!({ "error": {
        "type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests hit the API too quickly." } }));
    let broken = ResponseTemplate::new(500).set_body_json(json!({ "error": { "type": "api_error", "message": "x" } }));
    let silent =
        ResponseTemplate::new(200).set_body_json(intent("succeeded")).set_delay(std::time::Duration::from_secs(9));
    for (what, answer) in [("429", rate_limited), ("500", broken), ("timeout", silent)] {
        let server = MockServer::start().await;
        answer_a_charge(&server, answer).await;
        let charged = stripe_at(&server).await.charge(&request, PaymentDetails::StripeToken(TOKEN)).await;
        assert!(matches!(charged, Err(ProcessorError::Unavailable(_))), "{what}: {charged:?}");
    }
    // A request Stripe refuses (a bug or a misconfiguration) is a processing error: SYSTEM_ERROR.
    let server = MockServer::start().await;
    let refused = ResponseTemplate::new(400).set_body_json(json!({ "error": {
        "type": "invalid_request_error", "code": "parameter_unknown", "message": "Received unknown parameter: x" } }));
    answer_a_charge(&server, refused).await;
    let charged = stripe_at(&server).await.charge(&request, PaymentDetails::StripeToken(TOKEN)).await;
    assert!(matches!(charged, Err(ProcessorError::Processing(_))), "{charged:?}");
}

#[tokio::test]
async fn a_retry_finds_the_attempts_payment_intent_by_replaying_its_keyed_create() {
    let server = MockServer::start().await;
    let (session, attempt) = session(None);
    let request = ChargeRequest::of(&session, &attempt);
    // Stripe answers a replayed key with its first answer, the PaymentIntent as created; it has
    // succeeded since, which only reading it tells.
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents"))
        .and(header("idempotency-key", request.idempotency_key.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(intent("requires_payment_method")))
        .mount(&server)
        .await;
    answer(&server, "GET", "/v1/payment_intents/pi_1", 200, intent("succeeded")).await;
    let card = json!({ "id": "card_1", "object": "card", "brand": "Visa", "last4": "4242" });
    answer(&server, "GET", "/v1/customers/cus_1/sources/card_1", 200, card).await;
    let stripe = stripe_at(&server).await;
    let record = stripe.lookup(&request).await.expect("looked up").expect("a charge");
    assert_eq!(
        record.outcome,
        ChargeOutcome::Approved {
            transaction_id: "pi_1".into(),
            card_brand: "Visa".into(),
            card_last_four: "4242".into()
        }
    );
    assert_eq!(record.amount, MinorUnits(5000));

    // Giving it back is a refund of that PaymentIntent under a key of its own.
    Mock::given(method("POST"))
        .and(path("/v1/refunds"))
        .and(header("idempotency-key", format!("{}:refund", request.idempotency_key).as_str()))
        .and(body_string_contains("payment_intent=pi_1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "id": "re_1", "object": "refund", "status": "succeeded" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    stripe.void(&request, "pi_1").await.expect("refunded");
}

#[tokio::test]
async fn a_retried_charge_whose_first_try_succeeded_takes_that_charge_as_its_outcome() {
    // The first try's confirm went through but its answer was lost. The retry's keyed create
    // replays the PaymentIntent as created; Stripe then refuses to change it, having succeeded.
    let server = MockServer::start().await;
    let (session, attempt) = session(None);
    let request = ChargeRequest::of(&session, &attempt);
    answer(&server, "POST", "/v1/customers", 200, customer()).await;
    answer(&server, "POST", "/v1/payment_intents", 200, intent("requires_payment_method")).await;
    let unexpected_state = json!({ "error": { "type": "invalid_request_error", "code": "payment_intent_unexpected_state",
        "message": "This PaymentIntent's payment_method could not be updated because it has a status of succeeded." } });
    answer(&server, "POST", "/v1/payment_intents/pi_1", 400, unexpected_state).await;
    answer(&server, "GET", "/v1/payment_intents/pi_1", 200, intent("succeeded")).await;
    let card = json!({ "id": "card_1", "object": "card", "brand": "Visa", "last4": "4242" });
    answer(&server, "GET", "/v1/customers/cus_1/sources/card_1", 200, card).await;
    let charged = stripe_at(&server).await.charge(&request, PaymentDetails::StripeToken(TOKEN)).await;
    match charged {
        Ok(Charged::Decided(ChargeOutcome::Approved { transaction_id, .. })) => assert_eq!(transaction_id, "pi_1"),
        other => panic!("{other:?}"),
    }

    // A refusal of a PaymentIntent that has not succeeded stays the processor's problem.
    server.reset().await;
    answer(&server, "POST", "/v1/customers", 200, customer()).await;
    answer(&server, "POST", "/v1/payment_intents", 200, intent("requires_payment_method")).await;
    let refused = json!({ "error": { "type": "invalid_request_error", "message": "No such customer" } });
    answer(&server, "POST", "/v1/payment_intents/pi_1", 400, refused).await;
    answer(&server, "GET", "/v1/payment_intents/pi_1", 200, intent("requires_payment_method")).await;
    let charged = stripe_at(&server).await.charge(&request, PaymentDetails::StripeToken(TOKEN)).await;
    assert!(matches!(charged, Err(ProcessorError::Processing(_))), "{charged:?}");
}

#[tokio::test]
async fn stopping_a_lapsed_attempt_cancels_its_payment_intent_unless_it_has_succeeded() {
    let server = MockServer::start().await;
    let (session, attempt) = session(None);
    let request = ChargeRequest::of(&session, &attempt);
    let ok = |body: Value| ResponseTemplate::new(200).set_body_json(body);
    let created = || {
        Mock::given(method("POST")).and(path("/v1/payment_intents")).respond_with(ok(intent("requires_payment_method")))
    };
    let card = json!({ "id": "card_1", "object": "card", "brand": "Visa", "last4": "4242" });
    let card_of =
        || Mock::given(method("GET")).and(path("/v1/customers/cus_1/sources/card_1")).respond_with(ok(card.clone()));

    // 3-D Secure still open in a tab: cancelled at Stripe, under a key of its own; nothing charged.
    created().mount(&server).await;
    answer(&server, "GET", "/v1/payment_intents/pi_1", 200, intent("requires_action")).await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents/pi_1/cancel"))
        .and(header("idempotency-key", format!("{}:cancel", request.idempotency_key).as_str()))
        .respond_with(ok(intent("canceled")))
        .expect(1)
        .mount(&server)
        .await;
    let stripe = stripe_at(&server).await;
    assert_eq!(stripe.stop(&request).await.expect("stopped"), None);
    server.verify().await;

    // It succeeded just before: Stripe refuses the cancel, and the charge is what the attempt did.
    server.reset().await;
    created().mount(&server).await;
    Mock::given(method("GET"))
        .and(path("/v1/payment_intents/pi_1"))
        .respond_with(ok(intent("requires_action")))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    answer(&server, "GET", "/v1/payment_intents/pi_1", 200, intent("succeeded")).await;
    let unexpected_state = json!({ "error": { "type": "invalid_request_error", "code": "payment_intent_unexpected_state",
        "message": "You cannot cancel this PaymentIntent because it has a status of succeeded." } });
    answer(&server, "POST", "/v1/payment_intents/pi_1/cancel", 400, unexpected_state).await;
    card_of().mount(&server).await;
    let record = stripe.stop(&request).await.expect("stopped").expect("the charge it made");
    assert!(matches!(record.outcome, ChargeOutcome::Approved { ref transaction_id, .. } if transaction_id == "pi_1"));

    // Succeeded already: nothing to cancel.
    server.reset().await;
    created().mount(&server).await;
    answer(&server, "GET", "/v1/payment_intents/pi_1", 200, intent("succeeded")).await;
    Mock::given(method("POST"))
        .and(path("/v1/payment_intents/pi_1/cancel"))
        .respond_with(ok(intent("canceled")))
        .expect(0)
        .mount(&server)
        .await;
    card_of().mount(&server).await;
    assert!(stripe.stop(&request).await.expect("stopped").is_some());
    server.verify().await;
}

/// Stripe refuses an amount under its smallest charge once converted to the merchant's
/// settlement currency (which the link's currency may not be): a donor is asked for another
/// amount, with nothing held; a fixed amount fails as any refusal.
#[tokio::test]
async fn an_amount_stripe_refuses_asks_the_donor_again_and_fails_a_fixed_link() {
    use crate::checkout::pay::{Cashier, PayForm, PayOutcome};
    use crate::model::{DonationConfig, FailureCode, SessionStatus};
    use crate::test_support::{TestApp, TestMerchant};

    let server = MockServer::start().await;
    answer(&server, "POST", "/v1/customers", 200, customer()).await;
    let too_small = json!({ "error": { "type": "invalid_request_error", "code": "amount_too_small",
                                       "message": "Amount must convert to at least 50 cents." } });
    answer(&server, "POST", "/v1/payment_intents", 400, too_small).await;
    let merchant = TestMerchant { id: "m_small", name: "Small", vault_key: "vk_small", merchant_key: "mk_small" };
    let h = TestApp::embedded(merchant, chrono::Utc::now()).await;
    let stripe = stripe_at(&server).await;
    let cashier = Cashier { store: h.app.store.as_ref(), processor: &stripe, clock: h.app.clock.as_ref() };
    let donation = DonationConfig {
        presets: vec![MinorUnits(500)],
        default_amount: None,
        allow_custom_amount: true,
        min_amount: None,
        max_amount: None,
    };
    for (cart, usage_limit) in [(Cart::Donation { donation }, Some(5)), (Cart::Amount { amount: MinorUnits(60) }, None)]
    {
        let donating = matches!(cart, Cart::Donation { .. });
        let link = PaymentLink::new(merchant.id, shop_checkout(cart), usage_limit, 7, h.app.now());
        h.app.store.create_link(&link).await.unwrap();
        let session = CheckoutSession::open(&link, h.app.now());
        h.app.store.create_session(&session).await.unwrap();
        let form = PayForm {
            form_token: session.form_token.clone(),
            payment_token: TOKEN.into(),
            amount: Some("5.00".into()),
            ..PayForm::default()
        };
        let outcome = cashier.pay(session.id.as_str(), &form, None).await.unwrap();
        let stored = h.app.store.get_session(&session.id).await.unwrap().unwrap();
        if donating {
            match outcome {
                PayOutcome::TryAgain { message, .. } => {
                    assert!(message.contains("cannot take this amount"), "{message}")
                }
                other => panic!("a donor is asked again, not {other:?}"),
            }
            assert_eq!((stored.status, stored.in_flight), (SessionStatus::Pending, None), "free to try again");
            assert!(h.app.store.get_link(&link.id).await.unwrap().unwrap().claims.is_empty(), "nothing held");
            // A process that died after Stripe refused its amount left its attempt in flight: the
            // retry after the lease takes it over and is asked again, not told Stripe is down.
            let now = h.app.now();
            let begun = h.app.store.begin_attempt(&session.id, MinorUnits(500), now, now + PaymentAttempt::LEASE);
            assert!(matches!(begun.await, Ok(crate::store::BeginAttempt::Started(_))));
            h.clock.advance(PaymentAttempt::LEASE + chrono::TimeDelta::seconds(1));
            let retried = cashier.pay(session.id.as_str(), &form, None).await;
            assert!(matches!(retried, Ok(PayOutcome::TryAgain { .. })), "{retried:?}");
        } else {
            assert!(matches!(outcome, PayOutcome::Failed { code: FailureCode::SystemError, .. }), "{outcome:?}");
            assert_eq!(stored.status, SessionStatus::Failed);
        }
    }
}
