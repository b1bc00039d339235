//! Paying through Stripe without a browser: the real `paylinks serve` with
//! `PAYLINKS_PROCESSOR=stripe` against localstripe (PyPI), card tokens made as Stripe.js makes
//! them. Every assertion about money reads localstripe's own records, not only ours. (The page,
//! Stripe.js, 3-D Secure and the webhook are in browser.rs.)

use paylinks_tests::{
    Localstripe, MERCHANT_ID, Server, TempDir, client, merchant_request, open_checkout, seed_donation,
    seed_fixed_amount,
};
use serde_json::Value;

struct Stripe {
    stripe: Localstripe,
    server: Server,
    _data: TempDir,
}

impl Stripe {
    async fn start() -> Stripe {
        let stripe = Localstripe::start();
        let data = TempDir::new("paylinks-stripe");
        // Behind a proxy it trusts, so that racing customers can each have their own address
        // (one address with ten attempts in flight at once is refused: card testing).
        let server = stripe.serve_with_env(&data.0, &[("PAYLINKS_TRUST_FORWARDED_FOR", "1")]).await;
        Stripe { stripe, server, _data: data }
    }

    /// A fixed-amount link (50.00 USD) limited to `usage_limit` payments.
    async fn link(&self, usage_limit: u64) -> String {
        let mut body = seed_fixed_amount(MERCHANT_ID);
        body["usageLimit"] = usage_limit.into();
        self.create(&body).await.expect("create")
    }

    /// Creates the link `body` describes: its id, or the error answer's status and details.
    async fn create(&self, body: &Value) -> Result<String, (u16, Value)> {
        let response =
            merchant_request(reqwest::Method::POST, &format!("{}/api/payment-links/create", self.server.base))
                .json(body)
                .send()
                .await
                .expect("create");
        let status = response.status().as_u16();
        let answer: Value = response.json().await.expect("JSON");
        match status {
            201 => Ok(answer["data"]["paymentLinkId"].as_str().expect("id").to_owned()),
            _ => Err((status, answer["details"].clone())),
        }
    }

    async fn pay(&self, page_url: &str, form_token: &str, fields: &[(&str, &str)]) -> (u16, String) {
        pay(page_url, form_token, fields).await
    }

    /// localstripe's PaymentIntents made for `session` (by the metadata we gave them).
    async fn intents_of(&self, session: &str) -> Vec<Value> {
        let all = self.stripe.payment_intents().await;
        all.into_iter().filter(|pi| pi["metadata"]["sessionId"].as_str() == Some(session)).collect()
    }

    async fn used(&self, link: &str) -> u64 {
        let response =
            merchant_request(reqwest::Method::GET, &format!("{}/api/payment-links/{link}", self.server.base))
                .send()
                .await
                .expect("get link");
        let view: Value = response.json().await.expect("JSON");
        view["data"]["usage"]["used"].as_u64().expect("usage.used")
    }
}

/// Posts the checkout form of `page_url` with `fields` (the form token added): status and body.
async fn pay(page_url: &str, form_token: &str, fields: &[(&str, &str)]) -> (u16, String) {
    pay_from(page_url, form_token, fields, "192.0.2.1").await
}

/// [`pay`] from the client at `address` (as the proxy in front of the server says).
async fn pay_from(page_url: &str, form_token: &str, fields: &[(&str, &str)], address: &str) -> (u16, String) {
    let mut form = vec![("formToken", form_token)];
    form.extend_from_slice(fields);
    let request = client().post(format!("{page_url}/pay")).header("X-Forwarded-For", address).form(&form);
    let response = request.send().await.expect("pay");
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}

fn session_of(page_url: &str) -> &str {
    page_url.rsplit('/').next().expect("a session id")
}

#[tokio::test]
async fn fifty_racing_pays_on_a_link_limited_to_five_make_exactly_five_succeeded_payment_intents() {
    let s = Stripe::start().await;
    let link = s.link(5).await;
    let mut customers = Vec::new();
    for _ in 0..50 {
        let (page, token) = open_checkout(&s.server.base, &link).await.expect("open");
        customers.push((page, token, s.stripe.card_token("4242424242424242").await));
    }
    let mut racing = tokio::task::JoinSet::new();
    for (n, (page, form_token, card)) in customers.into_iter().enumerate() {
        let address = format!("203.0.113.{n}");
        racing.spawn(async move { pay_from(&page, &form_token, &[("paymentToken", &card)], &address).await });
    }
    let answers = racing.join_all().await;
    let paid = answers.iter().filter(|(status, _)| *status == 303).count();
    assert_eq!(paid, 5, "answers: {:?}", answers.iter().map(|(status, _)| status).collect::<Vec<_>>());
    assert!(answers.iter().all(|(status, _)| [303, 409, 410].contains(status)), "{answers:?}");

    let intents = s.stripe.payment_intents().await;
    let succeeded = intents.iter().filter(|pi| pi["status"] == "succeeded" && pi["amount"] == 5000).count();
    assert_eq!(succeeded, 5, "succeeded PaymentIntents at localstripe");
    assert_eq!(intents.len(), 5, "the 45 refused were never sent to Stripe: {intents:#?}");
    assert_eq!(s.used(&link).await, 5);
}

#[tokio::test]
async fn amounts_stripe_would_refuse_are_refused_to_the_merchant_or_asked_again_of_the_donor() {
    let s = Stripe::start().await;
    // Under Stripe's smallest charge (0.50 USD), told at creation, by field.
    let mut small = seed_fixed_amount(MERCHANT_ID);
    small["amount"] = "0.25".into();
    let refused = s.create(&small).await.expect_err("0.25 USD");
    assert_eq!(refused, (400, serde_json::json!(["amount: Stripe's smallest charge in USD is 0.50"])));
    let mut donation = seed_donation(MERCHANT_ID);
    donation["donationConfig"]["minAmount"] = "0.10".into();
    let refused = s.create(&donation).await.expect_err("a minimum of 0.10 USD");
    assert_eq!(
        refused,
        (400, serde_json::json!(["donationConfig.minAmount: Stripe's smallest charge in USD is 0.50"]))
    );
    // Custom amounts allowed, all of them under Stripe's smallest charge.
    let mut donation = seed_donation(MERCHANT_ID);
    donation["donationConfig"] = serde_json::json!({ "presets": [], "allowCustomAmount": true, "maxAmount": 0.4 });
    let refused = s.create(&donation).await.expect_err("custom amounts up to 0.40 USD");
    let why = "donationConfig.maxAmount: Stripe's smallest charge in USD is 0.50";
    assert_eq!(refused, (400, serde_json::json!([why])));

    // A yen donation with custom amounts and no minimum: the form's own smallest would be one
    // yen, Stripe's is 50, and the page says 50. A donor who gives 10 is asked again, and
    // nothing reaches Stripe.
    let mut yen = seed_donation(MERCHANT_ID);
    yen["currency"] = "JPY".into();
    yen["donationConfig"] = serde_json::json!({ "presets": [500, 1000], "allowCustomAmount": true });
    let link = s.create(&yen).await.expect("a yen donation");
    let (page, form_token) = open_checkout(&s.server.base, &link).await.expect("open");
    let shown = client().get(&page).send().await.expect("the page").text().await.expect("its text");
    assert!(shown.contains("At least ¥50 JPY"), "the page states Stripe's smallest: {shown}");
    let card = s.stripe.card_token("4242424242424242").await;
    let (status, body) = s.pay(&page, &form_token, &[("customAmount", "10"), ("paymentToken", &card)]).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("The smallest amount you can give is 50."), "tells the donor the smallest: {body}");
    assert!(s.intents_of(session_of(&page)).await.is_empty(), "nothing reached Stripe");
    // The same session then takes an amount Stripe charges.
    let card = s.stripe.card_token("4242424242424242").await;
    let (status, body) = s.pay(&page, &form_token, &[("customAmount", "75"), ("paymentToken", &card)]).await;
    assert_eq!(status, 303, "{body}");
    let intents = s.intents_of(session_of(&page)).await;
    assert_eq!((intents.len(), &intents[0]["amount"], &intents[0]["currency"]), (1, &75.into(), &"jpy".into()));
}

#[tokio::test]
async fn a_double_submitted_pay_makes_one_payment_intent() {
    let s = Stripe::start().await;
    let link = s.link(10).await;
    let (page, form_token) = open_checkout(&s.server.base, &link).await.expect("open");
    // Two submits of one page, each with the token its click made, at once.
    let (first, second) =
        (s.stripe.card_token("4242424242424242").await, s.stripe.card_token("4242424242424242").await);
    let (first, second) = ([("paymentToken", first.as_str())], [("paymentToken", second.as_str())]);
    let (a, b) = tokio::join!(s.pay(&page, &form_token, &first), s.pay(&page, &form_token, &second));
    assert!([a.0, b.0].contains(&303), "one of them pays: {} / {}", a.0, b.0);
    let intents = s.intents_of(session_of(&page)).await;
    assert_eq!(intents.len(), 1, "{intents:#?}");
    assert_eq!(intents[0]["status"], "succeeded");
    assert_eq!(s.used(&link).await, 1);
}

#[tokio::test]
async fn raw_card_fields_are_refused_in_stripe_mode_and_never_sent_on() {
    let s = Stripe::start().await;
    let link = s.link(1).await;
    let (page, form_token) = open_checkout(&s.server.base, &link).await.expect("open");
    let card = [("cardNumber", "4242424242424242"), ("expiry", "12/40"), ("cvc", "987")];
    let (status, body) = s.pay(&page, &form_token, &card).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("cardNumber") && body.contains("secure card field"), "names the field: {body}");
    assert!(!body.contains("4242424242424242") && !body.contains("987"), "never echoes the card: {body}");
    let (status, body) = s.pay(&page, &form_token, &[("paymentToken", "4242424242424242")]).await;
    assert_eq!(status, 422, "a card number is no token: {body}");
    assert!(s.stripe.payment_intents().await.is_empty(), "nothing reached Stripe");
    assert_eq!(s.used(&link).await, 0);
}

#[tokio::test]
async fn a_refund_in_full_at_stripe_marks_the_session_refunded() {
    let s = Stripe::start().await;
    let link = s.link(1).await;
    let (page, form_token) = open_checkout(&s.server.base, &link).await.expect("open");
    let card = s.stripe.card_token("4242424242424242").await;
    let (status, _) = s.pay(&page, &form_token, &[("paymentToken", &card)]).await;
    assert_eq!(status, 303);
    let session = session_of(&page);
    let intent = s.intents_of(session).await.pop().expect("the session's PaymentIntent");
    let payment_intent = intent["id"].as_str().expect("id");

    // Refunded in Stripe's dashboard; Stripe then sends charge.refunded with the Charge (as
    // documented: https://docs.stripe.com/api/events/types#event_types-charge.refunded).
    let refund = client()
        .post(format!("{}/v1/refunds", s.stripe.base))
        .bearer_auth(paylinks_tests::STRIPE_SECRET_KEY)
        .form(&[("payment_intent", payment_intent)])
        .send()
        .await
        .expect("refund at localstripe");
    assert!(refund.status().is_success(), "refund: {}", refund.status());
    let charges = s.stripe.get("/v1/charges?limit=100").await;
    let charge = charges["data"].as_array().expect("charges").iter().find(|c| c["payment_intent"] == payment_intent);
    let charge = charge.expect("the PaymentIntent's charge").clone();
    assert_eq!(charge["refunded"], true, "{charge}");
    let event = serde_json::json!({ "id": "evt_refund_1", "type": "charge.refunded", "data": { "object": charge } });
    let body = event.to_string();
    let now = chrono::Utc::now().timestamp();
    let send = |secret: &str| {
        client()
            .post(format!("{}/webhooks/stripe", s.server.base))
            .header("Stripe-Signature", paylinks_core::test_support::stripe_signature(&body, secret, now))
            .header("Content-Type", "application/json")
            .body(body.clone())
            .send()
    };
    assert_eq!(send("whsec_not_stripes").await.expect("post").status(), 400, "a forged event is refused");
    assert_eq!(session_status(&s, session).await, "completed");
    for delivery in ["first", "retry"] {
        assert_eq!(send(paylinks_tests::STRIPE_WEBHOOK_SECRET).await.expect("post").status(), 200, "{delivery}");
        assert_eq!(session_status(&s, session).await, "refunded", "{delivery}");
    }
}

async fn session_status(s: &Stripe, session: &str) -> String {
    let response = merchant_request(reqwest::Method::GET, &format!("{}/api/sessions/{session}", s.server.base))
        .send()
        .await
        .expect("session");
    let view: Value = response.json().await.expect("JSON");
    view["data"]["status"].as_str().expect("status").to_owned()
}

#[tokio::test]
async fn the_stripe_page_loads_stripe_js_allows_only_its_origins_and_says_paying_needs_javascript() {
    let s = Stripe::start().await;
    let link = s.link(1).await;
    let (page_url, _) = open_checkout(&s.server.base, &link).await.expect("open");
    let page = client().get(&page_url).send().await.expect("page");
    let csp = page.headers()["content-security-policy"].to_str().expect("CSP").to_owned();
    let html = page.text().await.expect("HTML");
    assert!(html.contains(&format!(r#"<script src="{}"></script>"#, s.stripe.js_url())), "{html}");
    assert!(html.contains("<noscript>") && html.contains("Paying by card needs JavaScript"), "{html}");
    assert!(!html.contains(r#"name="cardNumber""#) && !html.contains(r#"name="cvc""#), "no card field of ours: {html}");
    assert!(html.contains("pk_test_paylinks") && !html.contains("sk_test"), "the publishable key only: {html}");
    let stripe_origin = &s.stripe.base;
    for directive in [
        format!("script-src 'self' {stripe_origin}"),
        format!("frame-src {stripe_origin} https://hooks.stripe.com"),
        format!("connect-src {stripe_origin}"),
    ] {
        assert!(csp.split("; ").any(|d| d == directive), "{directive:?} in {csp}");
    }
    assert!(!csp.contains('*') && !csp.contains("unsafe"), "{csp}");
}

#[tokio::test]
async fn a_failed_3d_secure_reported_by_stripe_ends_the_attempt_so_the_customer_can_pay_at_once() {
    let s = Stripe::start().await;
    let link = s.link(1).await;
    let (page, form_token) = open_checkout(&s.server.base, &link).await.expect("open");
    let card = s.stripe.card_token("4000002760003184").await;
    let (status, html) = s.pay(&page, &form_token, &[("paymentToken", &card)]).await;
    assert_eq!(status, 200, "the page comes back to run 3-D Secure: {html}");
    let secret = html.split(r#"data-client-secret=""#).nth(1).and_then(|rest| rest.split('"').next()).expect("secret");
    let payment_intent = secret.split("_secret_").next().expect("pi id").to_owned();

    // The customer fails the bank's check in Stripe.js, then the tab is gone.
    let failed = client()
        .post(format!("{}/v1/payment_intents/{payment_intent}/_authenticate?success=false", s.stripe.base))
        .json(&serde_json::json!({ "key": paylinks_tests::STRIPE_PUBLISHABLE_KEY, "client_secret": secret }))
        .send()
        .await
        .expect("authenticate at localstripe");
    assert!(failed.status().is_success(), "{}", failed.status());
    // Meanwhile the attempt holds the session: another submit is told a payment is in progress.
    let again = s.stripe.card_token("4242424242424242").await;
    let (status, _) = s.pay(&page, &form_token, &[("paymentToken", &again)]).await;
    assert_eq!(status, 409, "in progress while the first attempt waits for the bank");

    // Stripe reports the failure (its documented event, with localstripe's PaymentIntent).
    let intent = s.stripe.get(&format!("/v1/payment_intents/{payment_intent}")).await;
    let body = serde_json::json!({ "id": "evt_failed_1", "type": "payment_intent.payment_failed", "data": { "object": intent } })
        .to_string();
    let signature = paylinks_core::test_support::stripe_signature(
        &body,
        paylinks_tests::STRIPE_WEBHOOK_SECRET,
        chrono::Utc::now().timestamp(),
    );
    let delivered = client()
        .post(format!("{}/webhooks/stripe", s.server.base))
        .header("Stripe-Signature", signature)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("deliver");
    assert_eq!(delivered.status(), 200);

    let (status, _) = s.pay(&page, &form_token, &[("paymentToken", &again)]).await;
    assert_eq!(status, 303, "the attempt ended: paying again works at once");
    assert_eq!(session_status(&s, session_of(&page)).await, "completed");
    assert_eq!(s.used(&link).await, 1);
}

/// Stripe does not answer (here: gone): the customer is told 503 with when to try again, not
/// charged, and the server logs why — a warn line the suite's secrets audit reads like every
/// other, which must not carry the secret key or the card token.
#[tokio::test]
async fn when_stripe_does_not_answer_the_customer_may_try_again_and_the_log_says_why_without_secrets() {
    let s = Stripe::start().await;
    let link = s.link(1).await;
    let (page, form_token) = open_checkout(&s.server.base, &link).await.expect("open");
    let card = s.stripe.card_token("4242424242424242").await;
    let Stripe { stripe, server, _data } = s;
    drop(stripe); // localstripe is killed: every call to it is refused
    let (status, body) = pay(&page, &form_token, &[("paymentToken", &card)]).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("could not confirm your payment"), "{body}");

    let log = std::fs::read_to_string(server.log_path()).expect("the server log");
    let line = log.lines().find(|line| line.contains("processor unreachable")).unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains(session_of(&page)), "{line}");
    for secret in [paylinks_tests::STRIPE_SECRET_KEY, card.as_str()] {
        assert!(!log.contains(secret), "the log holds {secret}: {line}");
    }
}
