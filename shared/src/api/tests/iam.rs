//! Every DynamoDB request a handler makes is one its Lambda function's policy in template.yaml
//! allows. Every endpoint is driven through its paths (successes, declines up to the
//! card-testing refusal, errors, a crashed charge settled, taken over and voided, idempotent
//! replays, paging) on DynamoDB (moto), with an SDK interceptor recording each request's IAM
//! actions on the kinds of items it touches (a transaction needs those of its items; an item's
//! kind is its partition key's prefix, which the policies name with `dynamodb:LeadingKeys`).
//! A handler that starts making a new call without its policy following fails here, not with
//! AccessDenied in a deployed stack; a grant no request needs fails too (least privilege).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::TimeDelta;
use lambda_http::Request;
use lambda_http::http::StatusCode;
use serde_json::json;

use super::{
    Calls, Endpoint, Harness, MERCHANT_ID, MERCHANT_KEY, OWN_KEYS, VAULT_KEY, check_event, create_event,
    deliveries_event, events_event, get_link_event, harness_on, list_event, open_event, qr_event, redeliver_event,
    rotate_secret_event, session_event, switch_event, webhook_endpoints_event, with_header,
};
use crate::api::ROUTES;
use crate::app::WebhookTargets;
use crate::checkout::processor::{Charged, InjectedProcessor, ProcessorPayment, ReportingProcessor};
use crate::checkout::processor::{
    TEST_CARD_DECLINED as DECLINED, TEST_CARD_INSUFFICIENT_FUNDS as INSUFFICIENT,
    TEST_CARD_PROCESSING_ERROR as PROCESSING_ERROR, TEST_CARD_SUCCESS as SUCCESS,
};
use crate::model::WebhookEndpoint;
use crate::model::{ChargeOutcome, PaymentAttempt, SessionStatus};
use crate::model::{LinkId, SessionId};
use crate::money::MinorUnits;
use crate::test_support::{
    RequestCounter, counted_client, fresh_dynamo_store_with, moto_endpoint, sell_items, stripe_webhook_event,
};
use crate::webhooks::{DISPATCH_FUNCTION, Sender, deliver_all_due};

/// What each function's policies allow, by the binary it runs, as `<action> on <resource>`
/// with the resource `table keyed <prefix>` (a statement on the table must name its key
/// prefixes) or `index/<name>`. Any other shape of policy (a Deny, a wildcard,
/// a SAM policy template, a resource other than the table or one of its indexes) fails here:
/// this test could not vouch for it.
fn allowed_actions() -> BTreeMap<String, BTreeSet<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let template: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut allowed = BTreeMap::new();
    for resource in template["Resources"].as_mapping().unwrap().values() {
        let Some(binary) = resource["Metadata"]["BuildProperties"]["Binary"].as_str() else { continue };
        let policies = resource["Properties"]["Policies"].as_sequence().cloned().unwrap_or_default();
        let mut grants = BTreeSet::new();
        for policy in &policies {
            let statements = policy["Statement"].as_sequence().unwrap_or_else(|| panic!("{binary}: {policy:?}"));
            // Reading Stripe's secrets from SSM: checked by `only_stripe_functions_read_stripe_secrets`.
            for statement in statements.iter().filter(|s| !is_ssm_statement(s)) {
                assert_eq!(statement["Effect"].as_str(), Some("Allow"), "{binary}: {statement:?}");
                let on = resource_of(&statement["Resource"]).unwrap_or_else(|| panic!("{binary}: {statement:?}"));
                let resources = match on.as_str() {
                    "table" => leading_keys(statement)
                        .unwrap_or_else(|| {
                            panic!("{binary}: a statement on the table names no key prefixes: {statement:?}")
                        })
                        .into_iter()
                        .map(|prefix| format!("table keyed {prefix}"))
                        .collect(),
                    _ if statement.get("Condition").is_some() => {
                        panic!("{binary}: a condition on an index: {statement:?}")
                    }
                    _ => vec![on],
                };
                let actions = statement["Action"].as_sequence().unwrap_or_else(|| panic!("{binary}: {statement:?}"));
                for action in actions {
                    let action = action.as_str().filter(|a| !a.contains('*'));
                    let action = action.unwrap_or_else(|| panic!("{binary}: {statement:?}"));
                    grants.extend(resources.iter().map(|on| format!("{action} on {on}")));
                }
            }
        }
        allowed.insert(binary.to_owned(), grants);
    }
    allowed
}

/// The key prefixes a statement on the table is limited to: its only condition is
/// `ForAllValues:StringLike` on `dynamodb:LeadingKeys`, every pattern `<PREFIX>#*` (IAM matches
/// each partition key a request touches against them; a request touching one outside is denied).
fn leading_keys(statement: &serde_yaml::Value) -> Option<Vec<String>> {
    let condition = statement["Condition"].as_mapping()?;
    let like = condition.get("ForAllValues:StringLike").filter(|_| condition.len() == 1)?.as_mapping()?;
    let patterns = like.get("dynamodb:LeadingKeys").filter(|_| like.len() == 1)?.as_sequence()?;
    let prefix = |pattern: &serde_yaml::Value| {
        let prefix = pattern.as_str()?.strip_suffix('*')?;
        let name = prefix.strip_suffix('#')?;
        (!name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase())).then(|| prefix.to_owned())
    };
    patterns.iter().map(prefix).collect()
}

fn is_ssm_statement(statement: &serde_yaml::Value) -> bool {
    statement["Action"]
        .as_sequence()
        .is_some_and(|actions| actions.iter().all(|a| a.as_str() == Some("ssm:GetParameter")))
}

/// The SSM parameters each function may read, by the template parameter naming them.
fn ssm_grants() -> BTreeMap<String, BTreeSet<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let template: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut grants = BTreeMap::new();
    for resource in template["Resources"].as_mapping().unwrap().values() {
        let Some(binary) = resource["Metadata"]["BuildProperties"]["Binary"].as_str() else { continue };
        let policies = resource["Properties"]["Policies"].as_sequence().cloned().unwrap_or_default();
        let statements = policies.iter().flat_map(|p| p["Statement"].as_sequence().cloned().unwrap_or_default());
        let mut names = BTreeSet::new();
        for statement in statements.filter(is_ssm_statement) {
            assert_eq!(statement["Effect"].as_str(), Some("Allow"), "{binary}: {statement:?}");
            let resources = match &statement["Resource"] {
                serde_yaml::Value::Sequence(list) => list.clone(),
                one => vec![one.clone()],
            };
            for resource in resources {
                let serde_yaml::Value::Tagged(tagged) = resource else { panic!("{binary}: {statement:?}") };
                let text = tagged.value.as_str().unwrap_or_default();
                let name = text
                    .strip_prefix("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${")
                    .and_then(|rest| rest.strip_suffix('}'))
                    .unwrap_or_else(|| panic!("{binary}: SSM resource {text} is not one named parameter"));
                names.insert(name.to_owned());
            }
        }
        if !names.is_empty() {
            grants.insert(binary.to_owned(), names);
        }
    }
    grants
}

#[test]
fn only_the_functions_that_talk_to_stripe_may_read_its_secrets_and_only_those_they_use() {
    let set = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<BTreeSet<_>>();
    let expected = BTreeMap::from([
        ("pay".to_owned(), set(&["StripeSecretKeyParameter"])),
        ("cancel".to_owned(), set(&["StripeSecretKeyParameter"])),
        ("stripe-webhook".to_owned(), set(&["StripeSecretKeyParameter", "StripeWebhookSecretParameter"])),
    ]);
    assert_eq!(ssm_grants(), expected);
}

/// `table` for `!GetAtt Table.Arn`, `index/<name>` for `!Sub "${Table.Arn}/index/<name>"`.
fn resource_of(value: &serde_yaml::Value) -> Option<String> {
    let serde_yaml::Value::Tagged(tagged) = value else { return None };
    match (tagged.tag.to_string().as_str(), tagged.value.as_str()?) {
        ("!GetAtt", "Table.Arn") => Some("table".to_owned()),
        ("!Sub", text) => text
            .strip_prefix("${Table.Arn}/index/")
            .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            .map(|name| format!("index/{name}")),
        _ => None,
    }
}

/// The IAM actions each function's requests needed, noted as they are sent.
struct NeededActions {
    counter: RequestCounter,
    /// By function (binary).
    by_function: BTreeMap<&'static str, BTreeSet<String>>,
}

impl NeededActions {
    /// Runs `request`, one request to `endpoint`, noting the actions it needed.
    async fn of<T>(&mut self, endpoint: Endpoint, request: impl Future<Output = T>) -> T {
        self.of_function(endpoint.function(), request).await
    }

    /// Runs `work` as the function `function` does it, noting the actions it needed.
    async fn of_function<T>(&mut self, function: &'static str, work: impl Future<Output = T>) -> T {
        self.counter.take_actions();
        let answer = work.await;
        self.by_function.entry(function).or_default().extend(self.counter.take_actions());
        answer
    }
}

/// The harness on DynamoDB, noting which IAM actions each endpoint's requests needed.
struct Recorder {
    h: Harness,
    needed: NeededActions,
}

impl Recorder {
    async fn call(&mut self, endpoint: Endpoint, request: Request) -> (StatusCode, serde_json::Value) {
        let (status, response) = self.needed.of(endpoint, self.h.call(endpoint, request)).await;
        (status, serde_json::from_slice(response.body()).unwrap_or_default())
    }

    async fn create(&mut self) -> LinkId {
        self.create_with(|_| {}).await
    }

    async fn create_with(&mut self, edit: impl FnOnce(&mut serde_json::Value)) -> LinkId {
        let (status, body) = self.call(Endpoint::CreateLink, create_event(edit)).await;
        assert_eq!(status, StatusCode::CREATED);
        body["data"]["paymentLinkId"].as_str().unwrap().parse().unwrap()
    }

    async fn open(&mut self, link: &LinkId) -> SessionId {
        let opened = self.h.call(Endpoint::OpenLink, open_event(link.as_str()));
        let (status, response) = self.needed.of(Endpoint::OpenLink, opened).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        response.headers()["location"].to_str().unwrap().rsplit('/').next().unwrap().parse().unwrap()
    }

    async fn pay(&mut self, session: &SessionId, card: &str) -> StatusCode {
        let stored = self.h.app.store.get_session(session).await.unwrap().unwrap();
        self.needed.of(Endpoint::Pay, self.h.pay(&stored, card)).await.0
    }

    async fn session_call(&mut self, endpoint: Endpoint, fixture: &str, session: &SessionId) -> StatusCode {
        self.call(endpoint, session_event(fixture, session)).await.0
    }
}

#[test]
fn every_dynamodb_call_of_every_handler_is_allowed_by_its_function_policy() {
    // The whole scenario is one future, larger than a test thread's stack in debug builds: it
    // runs on a thread with room for it.
    let scenario = std::thread::Builder::new().stack_size(32 << 20).spawn(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
        runtime.block_on(every_handler_against_its_policy());
    });
    if let Err(panic) = scenario.expect("a thread for the scenario").join() {
        std::panic::resume_unwind(panic);
    }
}

async fn every_handler_against_its_policy() {
    let counter = RequestCounter::default();
    let store = fresh_dynamo_store_with(counted_client(&moto_endpoint().await, &counter)).await;
    let h = harness_on(Arc::new(store)).await;
    let mut r = Recorder { h, needed: NeededActions { counter, by_function: BTreeMap::new() } };

    // Merchant API: create (plain, idempotent, replayed, key reused, invalid), read, list, switch, QR.
    let link = r.create().await;
    let keyed = |key: &str| with_header(create_event(|_| {}), "idempotency-key", key);
    for request in [
        keyed("order-1"),
        keyed("order-1"),
        with_header(create_event(|b| b["amount"] = json!("2")), "idempotency-key", "order-1"),
        create_event(|b| b["amount"] = json!("-1")),
    ] {
        r.call(Endpoint::CreateLink, request).await;
    }
    r.call(Endpoint::GetLink, get_link_event(&link, OWN_KEYS)).await;
    let (_, page) = r.call(Endpoint::ListLinks, list_event("limit=1", OWN_KEYS)).await;
    let cursor = page["nextCursor"].as_str().map(str::to_owned).unwrap_or_default();
    r.call(Endpoint::ListLinks, list_event(&format!("limit=1&cursor={cursor}&status=active"), OWN_KEYS)).await;
    r.call(Endpoint::QrCode, qr_event(&link, "format=png", VAULT_KEY, MERCHANT_KEY)).await;
    r.call(Endpoint::DeactivateLink, switch_event(&link, "deactivate", OWN_KEYS)).await;
    r.call(Endpoint::CheckAvailability, check_event(link.as_str())).await;
    r.call(Endpoint::ActivateLink, switch_event(&link, "activate", OWN_KEYS)).await;

    // Customers: check, open, page, pay with every kind of card, status, cancel.
    r.call(Endpoint::CheckAvailability, check_event(link.as_str())).await;
    r.call(Endpoint::CheckAvailability, check_event(LinkId::generate().as_str())).await;
    let session = r.open(&link).await;
    r.session_call(Endpoint::CheckoutPage, "checkout-page.json", &session).await;
    for card in [DECLINED, INSUFFICIENT, SUCCESS] {
        r.pay(&session, card).await;
    }
    r.session_call(Endpoint::CheckoutPage, "checkout-page.json", &session).await; // already paid
    // A link without a usage limit: no use is held, the link is checked as the attempt begins.
    let unlimited = r.create_with(|b| b["usageLimit"] = serde_json::Value::Null).await;
    let unlimited_session = r.open(&unlimited).await;
    for card in [DECLINED, SUCCESS] {
        r.pay(&unlimited_session, card).await;
    }
    // An itemised cart: its page, and the form shown again after a mistyped card, read the
    // items from the link (the session keeps only the total).
    let cart = r.create_with(|b| sell_items(b, json!([{ "name": "Mug", "price": 12 }]))).await;
    let cart_session = r.open(&cart).await;
    assert_eq!(r.session_call(Endpoint::CheckoutPage, "checkout-page.json", &cart_session).await, StatusCode::OK);
    assert_eq!(r.pay(&cart_session, "4242 4242 4242 4241").await, StatusCode::UNPROCESSABLE_ENTITY);
    r.session_call(Endpoint::SessionStatus, "session-status.json", &session).await;
    let (_, events) =
        r.call(Endpoint::ListEvents, events_event("type=checkout.session.completed&limit=1", OWN_KEYS)).await;
    let event = events["data"][0]["id"].as_str().expect("a payment's event").to_owned();
    let (status, _) = r.call(Endpoint::RedeliverEvent, redeliver_event(&event, OWN_KEYS)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let hook = json!({ "url": "https://shop.example/hooks" });
    let (_, endpoint) =
        r.call(Endpoint::CreateWebhookEndpoint, webhook_endpoints_event("POST", None, hook, OWN_KEYS)).await;
    let endpoint = endpoint["data"]["id"].as_str().unwrap().to_owned();
    let listing = webhook_endpoints_event("GET", None, serde_json::Value::Null, OWN_KEYS);
    r.call(Endpoint::ListWebhookEndpoints, listing).await;
    let reading = webhook_endpoints_event("GET", Some(&endpoint), serde_json::Value::Null, OWN_KEYS);
    assert_eq!(r.call(Endpoint::GetWebhookEndpoint, reading).await.0, StatusCode::OK);
    assert_eq!(
        r.call(Endpoint::ListWebhookDeliveries, deliveries_event(&endpoint, "", OWN_KEYS)).await.0,
        StatusCode::OK
    );
    assert_eq!(r.call(Endpoint::RotateWebhookSecret, rotate_secret_event(&endpoint, OWN_KEYS)).await.0, StatusCode::OK);
    let removal = webhook_endpoints_event("DELETE", Some(&endpoint), serde_json::Value::Null, OWN_KEYS);
    assert_eq!(r.call(Endpoint::DeleteWebhookEndpoint, removal).await.0, StatusCode::OK);

    // The webhook dispatcher: what is due (every event so far), each one's attempts recorded.
    let receiver = WebhookEndpoint {
        id: crate::model::WebhookEndpointId::generate(),
        url: "https://127.0.0.1/refused-on-aws".to_owned(),
        events: vec![],
        description: None,
        secret: crate::webhooks::signature::new_secret(),
        previous_secret: None,
        previous_secret_until: None,
        failing_since: None,
        disabled_reason: None,
        created_at: r.h.app.now() - TimeDelta::days(1),
    };
    assert!(r.h.app.store.add_webhook_endpoint(MERCHANT_ID, &receiver).await.unwrap());
    let sender = Sender::new(WebhookTargets::PublicHttps).unwrap();
    let (store, now) = (r.h.app.store.clone(), r.h.app.now());
    let attempts = r.needed.of_function(DISPATCH_FUNCTION, deliver_all_due(store.as_ref(), &sender, || now)).await;
    assert!(attempts.unwrap() > 0, "the dispatcher attempted the due events");
    r.call(Endpoint::OpenLink, open_event(link.as_str())).await; // used up
    let fresh = r.create().await;
    let failing = r.open(&fresh).await;
    r.pay(&failing, PROCESSING_ERROR).await;
    let fresh = r.create().await;
    let cancelled = r.open(&fresh).await;
    r.session_call(Endpoint::Cancel, "cancel.json", &cancelled).await;

    // A charge whose answer was lost: settled by a cancel; taken over and voided once another
    // customer filled the link meanwhile, by a pay and by a cancel.
    let sandbox = std::mem::replace(
        &mut r.h.app.processor,
        Arc::new(InjectedProcessor::new(r.h.app.store.clone(), usize::MAX, true)),
    );
    let fresh = r.create().await;
    let settled_by_cancel = r.open(&fresh).await;
    let crashed_link = r.create().await;
    let (crashed, other) = (r.open(&crashed_link).await, r.open(&crashed_link).await);
    let voided_by_cancel_link = r.create().await;
    let voided_by_cancel = r.open(&voided_by_cancel_link).await;
    let filler = r.open(&voided_by_cancel_link).await;
    for session in [&settled_by_cancel, &crashed, &voided_by_cancel] {
        assert_eq!(r.pay(session, SUCCESS).await, StatusCode::SERVICE_UNAVAILABLE);
    }
    r.h.app.processor = sandbox;
    r.h.advance(PaymentAttempt::LEASE + TimeDelta::seconds(1));
    r.session_call(Endpoint::Cancel, "cancel.json", &settled_by_cancel).await;
    assert_eq!(r.pay(&other, SUCCESS).await, StatusCode::SEE_OTHER);
    r.pay(&crashed, SUCCESS).await;
    assert_eq!(r.pay(&filler, SUCCESS).await, StatusCode::SEE_OTHER);
    r.session_call(Endpoint::Cancel, "cancel.json", &voided_by_cancel).await;
    let voided = r.h.app.store.get_session(&voided_by_cancel).await.unwrap().unwrap();
    assert_eq!(voided.status, SessionStatus::Cancelled, "the charge was given back, the session cancelled");

    // Stripe's webhooks: a payment whose page never came back (its attempt in flight) reported
    // succeeded, then refunded; and an event about a PaymentIntent that is not ours.
    r.h.app.stripe_webhook_secret = Some(secrecy::SecretString::from("whsec_iam"));
    let timing_out = Arc::new(InjectedProcessor::new(r.h.app.store.clone(), usize::MAX, false));
    let sandbox = std::mem::replace(&mut r.h.app.processor, timing_out);
    let reported_link = r.create().await;
    let reported = r.open(&reported_link).await;
    assert_eq!(r.pay(&reported, SUCCESS).await, StatusCode::SERVICE_UNAVAILABLE);
    let approved = ChargeOutcome::Approved {
        transaction_id: "pi_iam".into(),
        card_brand: "Visa".into(),
        card_last_four: "4242".into(),
    };
    let payment = ProcessorPayment {
        session_id: reported.to_string(),
        attempt: 1,
        amount: MinorUnits(5000),
        charged: Charged::Decided(approved),
    };
    r.h.app.processor = Arc::new(ReportingProcessor::new(r.h.app.store.clone(), payment));
    for event in [
        r#"{"id":"evt_iam_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_iam"}}}"#,
        r#"{"id":"evt_iam_2","type":"charge.refunded","data":{"object":{"id":"ch_iam","payment_intent":"pi_iam","refunded":true}}}"#,
    ] {
        let signed = stripe_webhook_event(event, "whsec_iam", r.h.app.now().timestamp());
        assert_eq!(r.call(Endpoint::StripeWebhook, signed).await.0, StatusCode::OK, "{event}");
    }
    assert_eq!(r.h.app.store.get_session(&reported).await.unwrap().unwrap().status, SessionStatus::Refunded);
    r.h.app.processor = sandbox;
    let event = r#"{"id":"evt_iam_3","type":"payment_intent.succeeded","data":{"object":{"id":"pi_unknown"}}}"#;
    let signed = stripe_webhook_event(event, "whsec_iam", r.h.app.now().timestamp());
    assert_eq!(r.call(Endpoint::StripeWebhook, signed).await.0, StatusCode::OK);

    // Card testing (last: it blocks this client's IP): declines until pays are refused before
    // the processor.
    let attacked = r.create().await;
    let target = r.open(&attacked).await;
    for _ in 0..12 {
        r.pay(&target, DECLINED).await;
    }

    // What each function needed, printed before it is judged: what a policy should say.
    for (function, needed) in &r.needed.by_function {
        println!("{function} needs: {}", needed.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    let allowed = allowed_actions();
    for (function, actions) in &allowed {
        let nothing = BTreeSet::new();
        let needed = r.needed.by_function.get(function.as_str()).unwrap_or(&nothing);
        for action in needed {
            assert!(
                actions.contains(action),
                "{function} needs {action}; its policy in template.yaml allows {actions:?}"
            );
        }
        // Least privilege, both ways: a grant no request needed is removed (or its path exercised here).
        let unused: Vec<&String> = actions.difference(needed).collect();
        assert!(unused.is_empty(), "{function} is granted {unused:?}, which none of its requests needed");
    }
    for function in r.needed.by_function.keys() {
        assert!(allowed.contains_key(*function), "no function builds {function} in template.yaml");
    }
    for route in ROUTES.iter().filter(|route| route.endpoint != Endpoint::Asset) {
        assert!(r.needed.by_function.contains_key(route.endpoint.function()), "{:?} was not exercised", route.endpoint);
    }
}
