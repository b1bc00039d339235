//! The hosted checkout page in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, installed by `scripts/debian-tools.sh`), against the real `paylinks serve`:
//! open a link, pay with a sandbox card, land on the merchant's page (a tiny local site that
//! records what it receives). Screenshots go to `target/screenshots/`.
//!
//! Each test starts its own server, merchant site, ChromeDriver and browser profile.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use paylinks_tests::{
    ChromeDriver, Localstripe, MERCHANT_ID, MERCHANT_KEY, MerchantSite, Server, TempDir, VAULT_KEY, chromium_bin,
    client, next_year_expiry,
};
use serde_json::{Value, json};

/// How long any single wait for the browser may take (pages are local: they take milliseconds,
/// but two cores run several browsers at once).
const WAIT: Duration = Duration::from_secs(30);

const CARD_OK: &str = "4242 4242 4242 4242";
const CARD_DECLINED: &str = "4000 0000 0000 0002";
const CARD_NO_FUNDS: &str = "4000 0000 0000 9995";

// ---------------------------------------------------------------------------------------------
// The browser

#[derive(Clone, Copy, Debug)]
enum Viewport {
    /// 390 × 844 CSS pixels, emulated as a phone (touch, mobile viewport rules).
    Phone,
    /// A 1280 × 800 window.
    Desktop,
}

impl Viewport {
    fn name(self) -> &'static str {
        match self {
            Viewport::Phone => "phone",
            Viewport::Desktop => "desktop",
        }
    }
}

/// A headless Chromium session with its own ChromeDriver and a fresh profile.
struct Browser {
    client: Client,
    driver: ChromeDriver,
    _profile: TempDir,
}

impl Browser {
    async fn start(viewport: Viewport) -> Browser {
        let driver = ChromeDriver::start();
        let profile = TempDir::new("paylinks-chromium-profile");
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            format!("--user-data-dir={}", profile.0.display()),
        ];
        let mut chrome_options = json!({ "binary": chromium_bin(), "args": [] });
        match viewport {
            Viewport::Desktop => args.push("--window-size=1280,800".to_owned()),
            Viewport::Phone => {
                args.push("--window-size=390,844".to_owned());
                chrome_options["mobileEmulation"] = json!({ "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 2, "touch": true, "mobile": true } });
            }
        }
        chrome_options["args"] = json!(args);
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": chrome_options,
            // Console messages and failed loads, read back with `console_errors`.
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!() };
        // ChromeDriver is plain HTTP on loopback: no TLS connector (`ClientBuilder::rustls()`
        // panics here, as this workspace enables two rustls crypto providers).
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .expect("a Chromium session from ChromeDriver");
        Browser { client, driver, _profile: profile }
    }

    async fn close(self) {
        self.client.close().await.expect("close the browser");
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    async fn url(&self) -> url::Url {
        self.client.current_url().await.expect("current URL")
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self.client.wait().at_most(WAIT).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => {
                let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
                let source = self.client.source().await.unwrap_or_default();
                panic!("no element `{css}` on {url}: {e}\n{source}")
            }
        }
    }

    async fn find_all(&self, css: &str) -> Vec<fantoccini::elements::Element> {
        self.client.find_all(Locator::Css(css)).await.expect("find_all")
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    /// Replaces the value of the input named `name`.
    async fn fill(&self, name: &str, value: &str) {
        let input = self.find(&format!("input[name=\"{name}\"]")).await;
        input.clear().await.expect("clear input");
        input.send_keys(value).await.expect("type into input");
    }

    async fn fill_card(&self, number: &str) {
        self.fill("cardNumber", number).await;
        self.fill("expiry", &next_year_expiry()).await;
        self.fill("cvc", "123").await;
        self.fill("cardholderName", "Ada Lovelace").await;
    }

    /// Types a card into Stripe.js's card field (localstripe's: number, month, two-digit year,
    /// CVC, postal code).
    async fn fill_stripe_card(&self, number: &str) {
        let year = next_year_expiry();
        let (month, year) = year.split_once('/').expect("MM/YY");
        for (field, value) in
            [("number", number), ("exp_month", month), ("exp_year", year), ("cvc", "123"), ("postal_code", "10001")]
        {
            let input = self.find(&format!("#card-element input[placeholder=\"{field}\"]")).await;
            input.clear().await.expect("clear card field");
            input.send_keys(value).await.expect("type into the card field");
        }
    }

    /// From now on the page's own `form.submit()` only records what the form would post:
    /// the test reads it with `held_post` and lets it go with `release_post` (or never: the
    /// customer closed the tab).
    async fn hold_form_posts(&self) {
        self.script(
            "window.__submit = HTMLFormElement.prototype.submit; \
             HTMLFormElement.prototype.submit = function () { \
               window.__form = this; window.__posted = new URLSearchParams(new FormData(this)).toString(); };",
        )
        .await;
    }

    /// What the page tried to post (waits for it).
    async fn held_post(&self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Value::String(posted) = self.script("return window.__posted || null").await {
                return posted;
            }
            assert!(Instant::now() < deadline, "the page posted nothing");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn release_post(&self) {
        self.script("window.__submit.call(window.__form)").await;
    }

    /// Clicks the button of localstripe's 3-D Secure dialog labelled `label`.
    async fn answer_3d_secure(&self, label: &str) {
        let deadline = Instant::now() + WAIT;
        let click = format!(
            "const b = [...document.querySelectorAll('button')].find(b => b.innerText === '{label}'); \
             if (b) {{ b.click(); return true; }} return false;"
        );
        while self.script(&click).await != Value::Bool(true) {
            assert!(Instant::now() < deadline, "no 3-D Secure dialog with {label:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks `css` and waits until the browser has left the current document (the form
    /// posts; the next page may be at the same URL, so the URL alone cannot tell).
    async fn click_and_wait_for_navigation(&self, css: &str) {
        let old_document = self.find("html").await;
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
        let deadline = Instant::now() + WAIT;
        loop {
            match old_document.tag_name().await {
                Err(e) if e.is_stale_element_reference() => break,
                // What ChromeDriver sometimes answers instead while the old document is torn down.
                Err(e) if e.to_string().contains("does not belong to the document") => break,
                Err(e) => panic!("waiting for the page after clicking {css}: {e}"),
                Ok(_) => {}
            }
            assert!(Instant::now() < deadline, "clicking {css} did not load a new page");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The new document is there; wait until it has parsed its body.
        self.find("body").await;
    }

    /// Waits until the browser is on a page of `site` at `path`, and returns that URL.
    async fn wait_for_merchant_page(&self, site: &MerchantSite, path: &str) -> url::Url {
        let prefix = format!("{}{path}", site.base);
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.url().await;
            if url.as_str().starts_with(&prefix) {
                self.find("#merchant-page").await;
                return url;
            }
            if Instant::now() > deadline {
                let source = self.client.source().await.unwrap_or_default();
                panic!("the browser did not reach {prefix}; it is on {url}:\n{source}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Fails unless the browser logged no Content-Security-Policy violation since the log was
    /// last read (reading clears it).
    async fn assert_no_csp_violation(&self, page: &str) {
        let violations: Vec<String> = self
            .console_errors()
            .await
            .into_iter()
            .filter(|message| message.contains("Content Security Policy") || message.contains("Refused to"))
            .collect();
        assert!(violations.is_empty(), "{page}: CSP violations: {violations:#?}");
    }

    /// Browser log entries of level SEVERE: console errors, failed resource loads, CSP
    /// violations. Read through ChromeDriver's log endpoint (fantoccini has no call for it);
    /// reading clears the log.
    async fn console_errors(&self) -> Vec<String> {
        let session = self.client.session_id().await.expect("session id").expect("a session");
        let response = client()
            .post(format!("{}/session/{session}/se/log", self.driver.url))
            .json(&json!({ "type": "browser" }))
            .send()
            .await
            .expect("ChromeDriver log endpoint");
        assert!(response.status().is_success(), "ChromeDriver log endpoint: {}", response.status());
        let body: Value = response.json().await.expect("log JSON");
        let entries = body["value"].as_array().cloned().unwrap_or_default();
        entries
            .iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    async fn script(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script {script}: {e}"))
    }

    /// Saves what the viewport shows as `target/screenshots/NAME.png`, and, when the page is
    /// taller than the viewport, its end (scrolled to the bottom) as `NAME-bottom.png`.
    /// (ChromeDriver clips element screenshots to the viewport, so there is no full-page one.)
    async fn screenshot(&self, name: &str) {
        let dir = screenshots_dir();
        self.script("window.scrollTo(0, 0)").await;
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
        let taller = self.script("return document.documentElement.scrollHeight > window.innerHeight").await;
        if taller == Value::Bool(true) {
            self.script("window.scrollTo(0, document.documentElement.scrollHeight)").await;
            let png = self.client.screenshot().await.expect("screenshot");
            std::fs::write(dir.join(format!("{name}-bottom.png")), png).expect("write screenshot");
            self.script("window.scrollTo(0, 0)").await;
        }
    }
}

/// `target/screenshots/` of the target directory this test was built in.
fn screenshots_dir() -> PathBuf {
    // Test executables live in <target>/<profile>/deps.
    let exe = std::env::current_exe().expect("test executable path");
    let target = exe.ancestors().nth(3).expect("target dir").to_owned();
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("create target/screenshots");
    dir
}

// ---------------------------------------------------------------------------------------------
// The service and the merchant

/// A server, a merchant site its links send customers back to, and a browser.
struct Checkout {
    browser: Browser,
    site: MerchantSite,
    server: Server,
    _data: TempDir,
    /// Stripe mode: the localstripe the server pays through.
    stripe: Option<Localstripe>,
}

impl Checkout {
    async fn start(viewport: Viewport) -> Checkout {
        let data = TempDir::new("paylinks-browser");
        let server = Server::start(&data.0);
        let site = MerchantSite::start();
        let browser = Browser::start(viewport).await;
        Checkout { browser, site, server, _data: data, stripe: None }
    }

    /// A server taking payments through localstripe, whose webhooks it receives.
    async fn start_with_stripe(viewport: Viewport) -> Checkout {
        let stripe = Localstripe::start();
        let data = TempDir::new("paylinks-browser-stripe");
        let server = stripe.serve(&data.0).await;
        let site = MerchantSite::start();
        let browser = Browser::start(viewport).await;
        Checkout { browser, site, server, _data: data, stripe: Some(stripe) }
    }

    fn stripe(&self) -> &Localstripe {
        self.stripe.as_ref().expect("a checkout started with Stripe")
    }

    /// Creates a link from `body` (merchant id and redirect URLs to the merchant site added)
    /// and returns its id.
    async fn create_link(&self, mut body: Value) -> String {
        body["merchantId"] = json!(MERCHANT_ID);
        body["successUrl"] = json!(format!("{}/thank-you?order=42", self.site.base));
        body["cancelUrl"] = json!(format!("{}/cancelled", self.site.base));
        body["errorUrl"] = json!(format!("{}/error", self.site.base));
        let response = client()
            .post(format!("{}/api/payment-links/create", self.server.base))
            .header("X-API-KEY", VAULT_KEY)
            .header("X-OZURA-API-KEY", MERCHANT_KEY)
            .json(&body)
            .send()
            .await
            .expect("create a link");
        let status = response.status();
        let created: Value = response.json().await.expect("create response JSON");
        assert_eq!(status, 201, "create: {created}");
        created["data"]["paymentLinkId"].as_str().expect("paymentLinkId").to_owned()
    }

    /// Opens the link as a customer would, waits for the checkout form and returns the
    /// checkout session id from the page's URL.
    async fn open(&self, link_id: &str) -> String {
        self.browser.goto(&format!("{}/pay/{link_id}", self.server.base)).await;
        self.browser.find("#pay-form").await;
        let url = self.browser.url().await;
        let session_id = url
            .path()
            .strip_prefix("/checkout/")
            .unwrap_or_else(|| panic!("opening the link should land on /checkout/{{sessionId}}, got {url}"))
            .to_owned();
        assert!(session_id.starts_with("cs_") && !session_id.contains('/'), "session id in {url}");
        session_id
    }

    /// Pays with the 4242 card and returns the query parameters the merchant's success page
    /// received.
    async fn pay_successfully(&self) -> BTreeMap<String, String> {
        self.browser.fill_card(CARD_OK).await;
        self.browser.find("#pay-button").await.click().await.expect("click pay");
        let url = self.browser.wait_for_merchant_page(&self.site, "/thank-you").await;
        let received = self.site.wait_for_request("/thank-you");
        assert_eq!(received, format!("{}?{}", url.path(), url.query().unwrap_or("")), "what the merchant got");
        url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }

    /// `GET /api/sessions/{id}` with the merchant's keys.
    async fn session_from_api(&self, session_id: &str) -> Value {
        let response = client()
            .get(format!("{}/api/sessions/{session_id}", self.server.base))
            .header("X-API-KEY", VAULT_KEY)
            .header("X-OZURA-API-KEY", MERCHANT_KEY)
            .send()
            .await
            .expect("GET /api/sessions/{id}");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(status, 200, "GET /api/sessions/{session_id}: {text}");
        let body: Value = serde_json::from_str(&text).expect("session JSON");
        // `{"success":true,"data":{...}}` like the other merchant endpoints.
        if body["data"].is_object() { body["data"].clone() } else { body }
    }

    async fn close(self) {
        self.browser.close().await;
    }
}

fn fixed_amount_link() -> Value {
    json!({
        "merchantName": "My Store",
        "amount": "50.00",
        "currency": "USD",
        "usageLimit": 1,
        "metadata": { "invoiceId": "INV-12345" }
    })
}

fn itemised_link() -> Value {
    json!({
        "merchantName": "Fashion Boutique",
        "currency": "USD",
        "items": [
            {
                "productId": "JACKET-001",
                "name": "Winter Jacket",
                "price": 149.99,
                "quantity": 1,
                "originalPrice": 199.99,
                "discountLabel": "25% OFF"
            },
            { "productId": "SCARF-002", "name": "Wool Scarf <i>silk</i>", "price": 12.50, "quantity": 2 }
        ]
    })
}

fn donation_link() -> Value {
    json!({
        "merchantName": "Save The Whales Foundation",
        "checkoutMode": "donation",
        "donationConfig": { "presets": [25, 50, 100, 250], "defaultAmount": 50, "allowCustomAmount": true },
        "expiresInDays": 365,
        "usageLimit": null
    })
}

fn page_text_contains(text: &str, needle: &str) {
    assert!(text.contains(needle), "the page should show {needle:?}; it shows:\n{text}");
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn fixed_amount_link_pays_with_4242_and_lands_on_the_success_url() {
    let checkout = Checkout::start(Viewport::Desktop).await;
    let link_id = checkout.create_link(fixed_amount_link()).await;
    let session_id = checkout.open(&link_id).await;

    let page = checkout.browser.text("body").await;
    page_text_contains(&page, "My Store");
    page_text_contains(&page, "50.00");

    let params = checkout.pay_successfully().await;
    assert_eq!(params.get("order").map(String::as_str), Some("42"), "the merchant's own query is kept: {params:?}");
    assert_eq!(params.get("success").map(String::as_str), Some("true"), "{params:?}");
    assert_eq!(params.get("sessionId"), Some(&session_id), "{params:?}");
    assert_eq!(params.get("paymentLinkId"), Some(&link_id), "{params:?}");
    assert_eq!(params.get("amount").map(String::as_str), Some("50.00"), "{params:?}");
    assert_eq!(params.get("currency").map(String::as_str), Some("USD"), "{params:?}");
    assert_eq!(params.get("cardBrand").map(String::as_str), Some("visa"), "{params:?}");
    assert_eq!(params.get("cardLastFour").map(String::as_str), Some("4242"), "{params:?}");
    let transaction_id = params.get("transactionId").filter(|id| !id.is_empty()).expect("a transactionId");
    assert!(!params.values().any(|v| v.replace(' ', "").contains("4242424242424242")), "no card number: {params:?}");

    // What the merchant's server checks before fulfilling the order.
    let session = checkout.session_from_api(&session_id).await;
    assert_eq!(session["status"], "completed", "{session}");
    assert_eq!(session["transactionId"].as_str(), Some(transaction_id.as_str()), "{session}");

    // Back to the checkout page: already paid, no form to pay twice.
    checkout.browser.goto(&format!("{}/checkout/{session_id}", checkout.server.base)).await;
    let page = checkout.browser.text("body").await;
    assert!(page.to_lowercase().contains("already paid"), "a paid session's page:\n{page}");
    assert!(checkout.browser.find_all("#pay-form").await.is_empty(), "a paid session still shows the pay form");
    checkout.close().await;
}

#[tokio::test]
async fn declined_cards_show_an_inline_error_and_the_customer_can_pay_again() {
    let checkout = Checkout::start(Viewport::Desktop).await;
    let link_id = checkout.create_link(fixed_amount_link()).await;
    let session_id = checkout.open(&link_id).await;
    let page_path = format!("/checkout/{session_id}");

    for (card, digits) in [(CARD_DECLINED, "4000000000000002"), (CARD_NO_FUNDS, "4000000000009995")] {
        checkout.browser.fill_card(card).await;
        checkout.browser.click_and_wait_for_navigation("#pay-button").await;
        let error = checkout.browser.find("#form-error").await;
        assert!(error.is_displayed().await.unwrap(), "#form-error is hidden");
        assert_eq!(error.attr("role").await.unwrap().as_deref(), Some("alert"));
        let message = error.text().await.unwrap();
        assert!(!message.trim().is_empty(), "an empty error message for {card}");
        // Post/redirect/get: the browser is on the page loaded by GET, not on its form's POST,
        // so a reload shows the page again and never posts the card a second time.
        let url = checkout.browser.url().await;
        assert_eq!(url.path(), page_path, "after {card} the browser is not back on the page: {url}");
        checkout.browser.client.refresh().await.expect("reload");
        assert!(checkout.browser.find("#form-error").await.is_displayed().await.unwrap(), "after a reload");
        assert!(checkout.site.requests().is_empty(), "the merchant was called: {:?}", checkout.site.requests());
        // The page is ready for another try, and never echoes the card number.
        checkout.browser.find("#pay-form").await;
        let source = checkout.browser.client.source().await.unwrap().replace(' ', "");
        assert!(!source.contains(digits), "the re-rendered page contains the card number {card}");
        let session = checkout.session_from_api(&session_id).await;
        assert_eq!(session["status"], "pending", "after {card}: {session}");
    }

    let params = checkout.pay_successfully().await;
    assert_eq!(params.get("success").map(String::as_str), Some("true"), "{params:?}");
    assert_eq!(params.get("sessionId"), Some(&session_id), "{params:?}");
    assert_eq!(params.get("cardLastFour").map(String::as_str), Some("4242"), "{params:?}");
    checkout.close().await;
}

#[tokio::test]
async fn donation_pays_the_default_preset_or_a_custom_amount() {
    let checkout = Checkout::start(Viewport::Desktop).await;
    let link_id = checkout.create_link(donation_link()).await;

    // The default preset is pre-selected: paying without touching the amount gives 50.00.
    checkout.open(&link_id).await;
    page_text_contains(&checkout.browser.text("body").await, "Save The Whales Foundation");
    let presets = checkout.browser.find_all("input[type=\"radio\"][name=\"amount\"]").await;
    let mut values = Vec::new();
    for preset in &presets {
        values.push(preset.attr("value").await.unwrap().unwrap_or_default());
    }
    assert_eq!(values, ["25.00", "50.00", "100.00", "250.00"], "the presets");
    let checked = checkout.browser.find("input[name=\"amount\"]:checked").await;
    assert_eq!(checked.attr("value").await.unwrap().as_deref(), Some("50.00"), "the default preset");
    let params = checkout.pay_successfully().await;
    assert_eq!(params.get("amount").map(String::as_str), Some("50.00"), "{params:?}");
    assert_eq!(params.get("checkoutMode").map(String::as_str), Some("donation"), "{params:?}");

    // A new session (opening the link again) with a custom amount.
    let session_id = checkout.open(&link_id).await;
    checkout.browser.fill("customAmount", "12.34").await;
    let params = checkout.pay_successfully().await;
    assert_eq!(params.get("sessionId"), Some(&session_id), "{params:?}");
    assert_eq!(params.get("amount").map(String::as_str), Some("12.34"), "{params:?}");

    // And a preset the customer picks.
    checkout.open(&link_id).await;
    checkout.browser.find("input[name=\"amount\"][value=\"100.00\"]").await.click().await.unwrap();
    let params = checkout.pay_successfully().await;
    assert_eq!(params.get("amount").map(String::as_str), Some("100.00"), "{params:?}");
    checkout.close().await;
}

/// A card error on a donation keeps the amount the donor chose, so paying again charges it.
#[tokio::test]
async fn donation_amount_survives_a_declined_card() {
    let checkout = Checkout::start(Viewport::Desktop).await;
    let link_id = checkout.create_link(donation_link()).await;
    let browser = &checkout.browser;

    checkout.open(&link_id).await;
    browser.find("input[name=\"amount\"][value=\"100.00\"]").await.click().await.unwrap();
    browser.fill_card(CARD_DECLINED).await;
    browser.click_and_wait_for_navigation("#pay-button").await;
    browser.find("#form-error").await;
    let checked = browser.find("input[name=\"amount\"]:checked").await;
    assert_eq!(checked.attr("value").await.unwrap().as_deref(), Some("100.00"), "the chosen preset after a decline");
    let params = checkout.pay_successfully().await;
    assert_eq!(params.get("amount").map(String::as_str), Some("100.00"), "{params:?}");

    checkout.open(&link_id).await;
    browser.fill("customAmount", "12.34").await;
    browser.fill_card(CARD_DECLINED).await;
    browser.click_and_wait_for_navigation("#pay-button").await;
    browser.find("#form-error").await;
    let custom = browser.find("#custom-amount").await.prop("value").await.unwrap();
    assert_eq!(custom.as_deref(), Some("12.34"), "the custom amount after a decline");
    let params = checkout.pay_successfully().await;
    assert_eq!(params.get("amount").map(String::as_str), Some("12.34"), "{params:?}");
    checkout.close().await;
}

#[tokio::test]
async fn itemised_cart_shows_items_quantities_prices_discounts_and_total() {
    let checkout = Checkout::start(Viewport::Desktop).await;
    let link_id = checkout.create_link(itemised_link()).await;
    checkout.open(&link_id).await;

    let page = checkout.browser.text("body").await;
    for needle in ["Fashion Boutique", "Winter Jacket", "149.99", "25% OFF", "25.00", "12.50", "174.99"] {
        page_text_contains(&page, needle);
    }
    // Merchant text is shown as text, never as markup.
    page_text_contains(&page, "Wool Scarf <i>silk</i>");
    assert!(checkout.browser.find_all(".items i, main i").await.is_empty(), "the item name was rendered as HTML");

    // Quantities: the jacket 1, the scarf 2, each next to its item's name.
    let items = checkout.browser.find_all("li").await;
    let mut rows = Vec::new();
    for item in &items {
        rows.push(item.text().await.unwrap());
    }
    let jacket = rows.iter().find(|row| row.contains("Winter Jacket")).expect("a row for the jacket");
    let scarf = rows.iter().find(|row| row.contains("Wool Scarf")).expect("a row for the scarf");
    assert!(jacket.contains('1') && jacket.contains("149.99") && jacket.contains("199.99"), "jacket row: {jacket}");
    assert!(jacket.contains("25% OFF"), "jacket row: {jacket}");
    assert!(scarf.contains('2') && scarf.contains("12.50") && scarf.contains("25.00"), "scarf row: {scarf}");
    assert!(!scarf.contains("OFF"), "scarf row has no discount: {scarf}");

    // The original price is struck through.
    let struck = checkout.browser.find_all("s, del").await;
    assert_eq!(struck.len(), 1, "one struck-through original price");
    page_text_contains(&struck[0].text().await.unwrap(), "199.99");
    let decoration = struck[0].css_value("text-decoration-line").await.unwrap();
    assert!(decoration.contains("line-through"), "the original price is not struck through: {decoration}");

    let params = checkout.pay_successfully().await;
    assert_eq!(params.get("amount").map(String::as_str), Some("174.99"), "{params:?}");
    checkout.close().await;
}

#[tokio::test]
async fn cancel_link_returns_to_the_cancel_url_with_nothing_added() {
    let checkout = Checkout::start(Viewport::Desktop).await;
    let link_id = checkout.create_link(fixed_amount_link()).await;
    let session_id = checkout.open(&link_id).await;
    let href = checkout.browser.find("#cancel-link").await.attr("href").await.unwrap().unwrap_or_default();
    assert!(href.ends_with(&format!("/checkout/{session_id}/cancel")), "cancel link: {href}");
    checkout.browser.find("#cancel-link").await.click().await.unwrap();
    let url = checkout.browser.wait_for_merchant_page(&checkout.site, "/cancelled").await;
    assert_eq!(url.query(), None, "nothing is added to cancelUrl: {url}");
    assert_eq!(checkout.site.requests(), ["/cancelled"]);
    let session = checkout.session_from_api(&session_id).await;
    assert_eq!(session["status"], "cancelled", "{session}");
    checkout.close().await;
}

/// Every page the customer can see: the three kinds, a re-rendered form with a card error
/// (the response to the form's POST), and the paid page. Leaves the browser on the last.
async fn visit_every_page(checkout: &Checkout, mut on_page: impl AsyncFnMut(&str)) {
    for (kind, body) in
        [("fixed-amount", fixed_amount_link()), ("itemised", itemised_link()), ("donation", donation_link())]
    {
        let link_id = checkout.create_link(body).await;
        checkout.open(&link_id).await;
        on_page(kind).await;
    }
    let session_page = checkout.browser.url().await;
    checkout.browser.fill_card(CARD_DECLINED).await;
    checkout.browser.click_and_wait_for_navigation("#pay-button").await;
    checkout.browser.find("#form-error").await;
    on_page("declined").await;
    checkout.pay_successfully().await;
    checkout.browser.goto(session_page.as_str()).await;
    checkout.browser.find("body").await;
    on_page("paid").await;
}

/// Every page loads its stylesheet, runs no script and violates no Content Security Policy
/// directive; every resource it loads answers 2xx.
#[tokio::test]
async fn pages_load_their_stylesheet_with_no_script_and_no_csp_violation() {
    let checkout = Checkout::start(Viewport::Desktop).await;
    let browser = &checkout.browser;
    visit_every_page(&checkout, async |page| {
        // The stylesheet applied: the body no longer has the browser's default look.
        let body = browser.find("body").await;
        let margin = body.css_value("margin-top").await.unwrap();
        let font = body.css_value("font-family").await.unwrap();
        assert!(
            margin != "8px" && !font.to_lowercase().contains("times"),
            "{page}: body looks unstyled (margin {margin}, font {font})"
        );
        let sheets = browser
            .script(
                "return Array.from(document.styleSheets).map(s => \
                 ({ href: s.href, rules: s.cssRules ? s.cssRules.length : 0 }))",
            )
            .await;
        let sheets = sheets.as_array().cloned().unwrap_or_default();
        assert!(
            sheets.iter().any(|s| s["href"].as_str().is_some_and(|h| h.ends_with("/assets/checkout.css"))
                && s["rules"].as_u64() > Some(0)),
            "{page}: /assets/checkout.css is not loaded: {sheets:?}"
        );
        // Every resource the page loaded (the stylesheet, images) answered 2xx.
        let resources = browser
            .script(
                "return performance.getEntriesByType('resource').map(r => \
                 ({ name: r.name, status: r.responseStatus }))",
            )
            .await;
        for resource in resources.as_array().cloned().unwrap_or_default() {
            if resource["name"].as_str().is_some_and(|name| name.ends_with("/favicon.ico")) {
                continue; // the browser's own request, not the page's: see pages_log_no_console_errors
            }
            let status = resource["status"].as_u64().unwrap_or(0);
            assert!((200..300).contains(&status), "{page}: a resource failed to load: {resource}");
        }
        assert!(browser.find_all("script").await.is_empty(), "{page}: the page has a <script>");
        browser.assert_no_csp_violation(page).await;
    })
    .await;
    checkout.close().await;
}

/// A merchant's look, as `appearance` asks: the page's background, and the pay button's
/// colour, text colour (the readable one for it) and corners.
const BRAND: Brand = Brand {
    appearance: r##"{ "primaryColor": "#ffd400", "backgroundColor": "#0b3d2e", "borderRadius": 4 }"##,
    body_background: "rgb(11, 61, 46)",
    button_background: "rgb(255, 212, 0)",
    button_text: "rgb(0, 0, 0)",
    button_radius: "4px",
};

struct Brand {
    appearance: &'static str,
    body_background: &'static str,
    button_background: &'static str,
    button_text: &'static str,
    button_radius: &'static str,
}

/// The page the browser is on wears `BRAND`: its one inline style block (the merchant's
/// colours, allowed by its hash in the page's CSP) was applied, and Chromium reported no CSP
/// violation. `page` names the page in failure messages.
async fn assert_branded(browser: &Browser, page: &str) {
    let styles = browser
        .script(
            "return Array.from(document.styleSheets).filter(s => !s.href).map(s => \
             ({ rules: s.cssRules.length, text: s.ownerNode.textContent }))",
        )
        .await;
    let styles = styles.as_array().cloned().unwrap_or_default();
    assert!(
        styles.len() == 1 && styles[0]["rules"].as_u64() > Some(0),
        "{page}: one inline style sheet with rules expected: {styles:?}"
    );
    let computed = |css: &str, property: &str| {
        format!("return getComputedStyle(document.querySelector('{css}')).getPropertyValue('{property}')")
    };
    let background = browser.script(&computed("body", "background-color")).await;
    assert_eq!(background, json!(BRAND.body_background), "{page}: the body's background colour");
    if !browser.find_all("#pay-button").await.is_empty() {
        for (property, expected) in [
            ("background-color", BRAND.button_background),
            ("color", BRAND.button_text),
            ("border-top-left-radius", BRAND.button_radius),
        ] {
            let value = browser.script(&computed("#pay-button", property)).await;
            assert_eq!(value, json!(expected), "{page}: the pay button's {property}");
        }
    }
    browser.assert_no_csp_violation(page).await;
}

/// A link with an `appearance`: its checkout page, the page again after a decline and the
/// paid page, loaded in Chromium, each in the merchant's colours with no CSP violation.
#[tokio::test]
async fn branded_pages_apply_the_merchants_colours_with_no_csp_violation() {
    let checkout = Checkout::start(Viewport::Desktop).await;
    let browser = &checkout.browser;
    let mut body = fixed_amount_link();
    body["appearance"] = serde_json::from_str(BRAND.appearance).unwrap();
    let link_id = checkout.create_link(body).await;
    // An unbranded page first: our own look, so the colours below are the merchant's doing.
    let plain = checkout.create_link(fixed_amount_link()).await;
    checkout.open(&plain).await;
    let background = browser.script("return getComputedStyle(document.body).backgroundColor").await;
    assert_ne!(background, json!(BRAND.body_background), "our own look is not the brand's");
    browser.console_errors().await;

    checkout.open(&link_id).await;
    assert_branded(browser, "checkout").await;
    let session_page = browser.url().await;
    browser.fill_card(CARD_DECLINED).await;
    browser.click_and_wait_for_navigation("#pay-button").await;
    browser.find("#form-error").await;
    assert_branded(browser, "declined").await;
    checkout.pay_successfully().await;
    browser.goto(session_page.as_str()).await;
    page_text_contains(&browser.text("body").await, "paid");
    assert_branded(browser, "paid").await;
    checkout.close().await;
}

/// Nothing on any page makes the browser log an error.
#[tokio::test]
async fn pages_log_no_console_errors() {
    let checkout = Checkout::start(Viewport::Desktop).await;
    let browser = &checkout.browser;
    browser.console_errors().await;
    visit_every_page(&checkout, async |page| {
        let errors = browser.console_errors().await;
        assert!(errors.is_empty(), "{page}: console errors: {errors:#?}");
    })
    .await;
    checkout.close().await;
}

/// Screenshots of the three page kinds, a card error and the paid page on a phone and a
/// desktop, under `target/screenshots/`, for a person to look at.
#[tokio::test]
async fn screenshots_of_every_page_kind_on_phone_and_desktop() {
    for viewport in [Viewport::Phone, Viewport::Desktop] {
        let checkout = Checkout::start(viewport).await;
        let browser = &checkout.browser;
        visit_every_page(&checkout, async |page| {
            browser.screenshot(&format!("{page}-{}", viewport.name())).await;
            // The pay button is on screen, whole.
            if let Some(button) = browser.find_all("#pay-button").await.into_iter().next() {
                let width = browser.script("return document.documentElement.clientWidth").await;
                let (x, _, button_width, _) = button.rectangle().await.unwrap();
                assert!(
                    x >= 0.0 && x + button_width <= width.as_f64().unwrap() + 0.5,
                    "{page} on {viewport:?}: the pay button is off screen"
                );
            }
        })
        .await;
        checkout.close().await;
    }
}

/// No page is wider than the screen (no sideways scrolling on a phone).
#[tokio::test]
async fn pages_fit_the_screen_without_horizontal_scrolling() {
    for viewport in [Viewport::Phone, Viewport::Desktop] {
        let checkout = Checkout::start(viewport).await;
        let browser = &checkout.browser;
        visit_every_page(&checkout, async |page| {
            let widths = browser
                .script("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
                .await;
            if widths[0].as_u64() > widths[1].as_u64() {
                let wide = browser
                    .script(
                        "return Array.from(document.querySelectorAll('body *')).filter(e => \
                         e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5).map(e => \
                         e.outerHTML.slice(0, 80) + ' right=' + e.getBoundingClientRect().right)",
                    )
                    .await;
                panic!(
                    "{page} on {viewport:?}: the page is {} px wide on a {} px screen: {wide:#}",
                    widths[0], widths[1]
                );
            }
        })
        .await;
        checkout.close().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Stripe: our real page with localstripe's Stripe.js, paying through localstripe's API.

const STRIPE_3DS: &str = "4000002760003184";

/// Pays a fresh session with `card` through Stripe.js and returns what the page posted to us.
async fn pay_with_stripe(checkout: &Checkout, card: &str) -> String {
    checkout.browser.fill_stripe_card(card).await;
    checkout.browser.hold_form_posts().await;
    checkout.browser.find("#pay-button").await.click().await.expect("click pay");
    let posted = checkout.browser.held_post().await;
    checkout.browser.release_post().await;
    posted
}

fn assert_no_card_data(posted: &str, card: &str) {
    assert!(
        !posted.contains(card) && !posted.contains("cvc") && !posted.contains("cardNumber"),
        "posted to us: {posted}"
    );
}

#[tokio::test]
async fn stripe_approves_4242_through_stripe_js_and_no_card_data_reaches_us() {
    let checkout = Checkout::start_with_stripe(Viewport::Phone).await;
    let link_id = checkout.create_link(fixed_amount_link()).await;
    let session_id = checkout.open(&link_id).await;
    assert!(
        checkout.browser.find_all("input[name=cardNumber]").await.is_empty(),
        "Stripe mode has no card field of ours"
    );

    let posted = pay_with_stripe(&checkout, "4242424242424242").await;
    assert!(posted.contains("paymentToken=tok_"), "the page posts Stripe's token: {posted}");
    assert_no_card_data(&posted, "4242424242424242");

    let url = checkout.browser.wait_for_merchant_page(&checkout.site, "/thank-you").await;
    let params: BTreeMap<String, String> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let payment_intent = params.get("transactionId").cloned().unwrap_or_default();
    assert!(payment_intent.starts_with("pi_"), "the transaction id is the PaymentIntent's: {params:?}");
    assert_eq!(params.get("cardLastFour").map(String::as_str), Some("4242"), "{params:?}");

    // Stripe's own record: succeeded, for the session's amount, tagged with the session.
    let intent = checkout.stripe().get(&format!("/v1/payment_intents/{payment_intent}")).await;
    assert_eq!(intent["status"], "succeeded", "{intent}");
    assert_eq!((intent["amount"].as_i64(), intent["currency"].as_str()), (Some(5000), Some("usd")), "{intent}");
    assert_eq!(intent["metadata"]["sessionId"].as_str(), Some(session_id.as_str()), "{intent}");
    assert_eq!(intent["metadata"]["paymentLinkId"].as_str(), Some(link_id.as_str()), "{intent}");
    assert_eq!(intent["metadata"]["invoiceId"].as_str(), Some("INV-12345"), "the merchant's metadata: {intent}");
    let session = checkout.session_from_api(&session_id).await;
    assert_eq!(
        (session["status"].as_str(), session["transactionId"].as_str()),
        (Some("completed"), Some(payment_intent.as_str()))
    );
    checkout.close().await;
}

#[tokio::test]
async fn stripe_declines_show_inline_and_give_the_use_back() {
    let checkout = Checkout::start_with_stripe(Viewport::Desktop).await;
    // One use: a decline that kept its hold would leave nothing for the good card.
    let link_id = checkout.create_link(fixed_amount_link()).await;
    checkout.open(&link_id).await;
    for card in ["4000000000000002", "4000000000009995"] {
        let posted = pay_with_stripe(&checkout, card).await;
        assert_no_card_data(&posted, card);
        let message = checkout.browser.text("#form-error").await;
        assert!(message.contains("declined") || message.contains("insufficient funds"), "{card}: {message}");
        checkout.browser.assert_no_csp_violation("the Stripe checkout page").await;
    }
    pay_with_stripe(&checkout, "4242424242424242").await;
    checkout.browser.wait_for_merchant_page(&checkout.site, "/thank-you").await;
    let succeeded =
        checkout.stripe().payment_intents().await.into_iter().filter(|pi| pi["status"] == "succeeded").count();
    assert_eq!(succeeded, 1);
    checkout.close().await;
}

#[tokio::test]
async fn stripe_3d_secure_failed_then_completed() {
    let checkout = Checkout::start_with_stripe(Viewport::Desktop).await;
    let link_id = checkout.create_link(fixed_amount_link()).await;
    let session_id = checkout.open(&link_id).await;

    pay_with_stripe(&checkout, STRIPE_3DS).await;
    checkout.browser.hold_form_posts().await;
    checkout.browser.answer_3d_secure("Fail authentication").await;
    let posted = checkout.browser.held_post().await;
    assert!(posted.contains("paymentIntent=pi_"), "back from 3-D Secure the page posts the PaymentIntent: {posted}");
    checkout.browser.release_post().await;
    let message = checkout.browser.text("#form-error").await;
    assert!(message.contains("bank could not confirm"), "{message}");

    pay_with_stripe(&checkout, STRIPE_3DS).await;
    checkout.browser.answer_3d_secure("Complete authentication").await;
    let url = checkout.browser.wait_for_merchant_page(&checkout.site, "/thank-you").await;
    assert!(url.as_str().contains("success=true"), "{url}");
    let session = checkout.session_from_api(&session_id).await;
    assert_eq!(session["status"], "completed", "{session}");
    checkout.close().await;
}

#[tokio::test]
async fn stripe_3d_secure_completed_in_a_tab_that_closed_is_completed_by_the_webhook() {
    let checkout = Checkout::start_with_stripe(Viewport::Desktop).await;
    let link_id = checkout.create_link(fixed_amount_link()).await;
    let session_id = checkout.open(&link_id).await;

    pay_with_stripe(&checkout, STRIPE_3DS).await;
    // The customer authenticates, and the tab is gone before it can post back.
    checkout.browser.hold_form_posts().await;
    checkout.browser.answer_3d_secure("Complete authentication").await;
    checkout.browser.held_post().await;
    checkout.browser.goto("about:blank").await;

    // localstripe sends payment_intent.succeeded, signed, a second after the charge.
    let deadline = Instant::now() + WAIT;
    let session = loop {
        let session = checkout.session_from_api(&session_id).await;
        if session["status"] == "completed" || Instant::now() > deadline {
            break session;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(session["status"], "completed", "the webhook completes the session: {session}");
    let link = client()
        .get(format!("{}/api/payment-links/{link_id}", checkout.server.base))
        .header("X-API-KEY", VAULT_KEY)
        .header("X-OZURA-API-KEY", MERCHANT_KEY)
        .send()
        .await
        .expect("GET link");
    let link: Value = link.json().await.expect("link JSON");
    assert_eq!(link["data"]["usage"]["used"].as_u64(), Some(1), "counted once: {link}");
    checkout.close().await;
}
