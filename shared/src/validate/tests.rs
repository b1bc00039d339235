//! The create-request validator, judged by what a merchant sees: the typed link a valid
//! request becomes, and for an invalid one every bad field named by its path at once.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::model::{Appearance, Cart, DonationConfig, HexColor, Item};
use crate::money::{Currency, MinorUnits};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The seed's fixed-amount example.
fn valid_payment() -> Value {
    crate::test_support::seed_fixed_amount("your_merchant_id")
}

/// The seed's itemised example ("Fashion Boutique").
fn valid_items() -> Value {
    crate::test_support::seed_itemised("store_abc123")
}

/// The seed's donation example ("Save The Whales").
fn valid_donation() -> Value {
    crate::test_support::seed_donation("charity_abc123")
}

/// `body` with the value at a JSON pointer (`/items/0/price`) set, adding the key if needed.
fn set(mut body: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer starts with /");
    match body.pointer_mut(parent).expect("the pointer names an existing parent") {
        Value::Object(object) => {
            object.insert(key.to_owned(), value);
        }
        Value::Array(array) => array[key.parse::<usize>().expect("array index")] = value,
        other => panic!("cannot set {key} in {other}"),
    }
    body
}

/// `body` without the value at a JSON pointer.
fn remove(mut body: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer starts with /");
    let removed = body.pointer_mut(parent).and_then(Value::as_object_mut).and_then(|object| object.shift_remove(key));
    assert!(removed.is_some(), "no {pointer} to remove");
    body
}

fn validate(body: &Value) -> Result<CreateLink, ValidationErrors> {
    validate_create(body.to_string().as_bytes())
}

fn ok(body: &Value) -> CreateLink {
    validate(body).unwrap_or_else(|errors| panic!("expected {body} to be valid, got {errors:?}"))
}

fn errors_of(body: &[u8]) -> Vec<String> {
    match validate_create(body) {
        Ok(link) => panic!("expected {} to be refused, got {link:?}", shown(body)),
        Err(ValidationErrors(errors)) => errors,
    }
}

/// A body short enough to show in a failure message.
fn shown(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if text.chars().count() <= 300 {
        text.into_owned()
    } else {
        format!("{}…", text.chars().take(300).collect::<String>())
    }
}

/// The error list has an entry `"<path>: ...<phrase>..."`.
fn has_error(errors: &[String], path: &str, phrase: &str) -> bool {
    errors
        .iter()
        .any(|e| e.strip_prefix(path).and_then(|rest| rest.strip_prefix(": ")).is_some_and(|m| m.contains(phrase)))
}

fn amount_of(link: &CreateLink) -> MinorUnits {
    match &link.checkout.cart {
        Cart::Amount { amount } => *amount,
        other => panic!("expected a fixed amount, got {other:?}"),
    }
}

fn items_of(link: &CreateLink) -> (&[Item], MinorUnits) {
    match &link.checkout.cart {
        Cart::Items { items, total } => (items, *total),
        other => panic!("expected an itemised cart, got {other:?}"),
    }
}

fn donation_of(link: &CreateLink) -> &DonationConfig {
    match &link.checkout.cart {
        Cart::Donation { donation } => donation,
        other => panic!("expected a donation, got {other:?}"),
    }
}

fn item(name: &str, price: Value, quantity: u64) -> Value {
    json!({ "name": name, "price": price, "quantity": quantity })
}

// ---------------------------------------------------------------------------------------------
// Valid requests
// ---------------------------------------------------------------------------------------------

#[test]
fn seed_fixed_amount_link_becomes_5000_cents_single_use_with_its_metadata() {
    let link = ok(&valid_payment());
    assert_eq!(link.merchant_id, "your_merchant_id");
    assert_eq!(link.checkout.merchant_name, "My Store");
    assert_eq!(amount_of(&link), MinorUnits(5000));
    assert_eq!(link.checkout.currency, Currency::USD);
    assert_eq!(link.usage_limit, Some(1));
    assert_eq!(link.expires_in_days, 7);
    assert_eq!(link.checkout.success_url, "https://mystore.com/thank-you");
    assert_eq!(link.checkout.cancel_url, "https://mystore.com/cancelled");
    assert_eq!(link.checkout.error_url, "https://mystore.com/error");
    assert_eq!(link.checkout.metadata, r#"{"invoiceId":"INV-12345"}"#);
}

#[test]
fn seed_itemised_cart_totals_14999_and_keeps_every_item_field() {
    let link = ok(&valid_items());
    let (items, total) = items_of(&link);
    assert_eq!(total, MinorUnits(14999));
    assert_eq!(
        items,
        [Item {
            product_id: Some("JACKET-001".into()),
            name: "Winter Jacket".into(),
            price: MinorUnits(14999),
            quantity: 1,
            image_url: Some("https://cdn.example.com/jacket.jpg".into()),
            original_price: Some(MinorUnits(19999)),
            discount_label: Some("25% OFF".into()),
        }]
    );
    assert_eq!(link.checkout.cart.fixed_total(), Some(MinorUnits(14999)));
    assert_eq!(link.usage_limit, None);
    assert_eq!(link.expires_in_days, 7, "expiresInDays defaults to 7");
    assert_eq!(link.checkout.metadata, "{}", "no metadata is an empty object");
}

#[test]
fn seed_donation_has_cent_presets_default_and_a_year_of_unlimited_use() {
    let link = ok(&valid_donation());
    assert_eq!(
        donation_of(&link),
        &DonationConfig {
            presets: vec![MinorUnits(2500), MinorUnits(5000), MinorUnits(10000), MinorUnits(25000)],
            default_amount: Some(MinorUnits(5000)),
            allow_custom_amount: true,
            min_amount: None,
            max_amount: None,
        }
    );
    assert_eq!(link.checkout.cart.checkout_mode(), "donation");
    assert_eq!(link.checkout.currency, Currency::USD, "currency defaults to USD");
    assert_eq!(link.usage_limit, None, "usageLimit null is unlimited");
    assert_eq!(link.expires_in_days, 365);
}

#[test]
fn currency_defaults_to_usd_and_amounts_follow_the_currency_exponent() {
    assert_eq!(ok(&remove(valid_payment(), "/currency")).checkout.currency, Currency::USD);

    let cases = [("JPY", "500", 500), ("KWD", "1.234", 1234), ("usd", "0.01", 1), ("EUR", "999999.99", 99_999_999)];
    for (code, amount, minor) in cases {
        let link = ok(&set(set(valid_payment(), "/currency", json!(code)), "/amount", json!(amount)));
        assert_eq!(link.checkout.currency.code(), code.to_ascii_uppercase(), "{code}");
        assert_eq!(amount_of(&link), MinorUnits(minor), "{amount} {code}");
    }
    // A JSON number amount is read from its exact text too.
    assert_eq!(amount_of(&ok(&set(valid_payment(), "/amount", json!(25)))), MinorUnits(2500));
}

#[test]
fn itemised_totals_are_exact_sums_of_price_times_quantity() {
    let body = set(valid_items(), "/items", json!([item("Socks", json!(19.99), 3)]));
    assert_eq!(items_of(&ok(&body)).1, MinorUnits(5997));

    // Prices that are inexact in binary floating point still add up to the cent.
    let items = json!([item("A", json!(0.1), 1), item("B", json!(0.2), 1), item("C", json!(1.15), 7)]);
    assert_eq!(items_of(&ok(&set(valid_items(), "/items", items))).1, MinorUnits(10 + 20 + 805));

    // An amount equal to the total is accepted; quantity defaults to 1.
    let body = set(valid_items(), "/amount", json!("149.99"));
    let link = ok(&remove(body, "/items/0/quantity"));
    let (items, total) = items_of(&link);
    assert_eq!((items[0].quantity, total), (1, MinorUnits(14999)));

    // A cart just under the maximum is accepted.
    let items = json!([item("Max", json!(99.99), 10_000), item("Rest", json!(99.99), 1)]);
    assert_eq!(items_of(&ok(&set(valid_items(), "/items", items))).1, MinorUnits(99_999_999));
}

#[test]
fn usage_limits_and_expiry_within_range_are_kept() {
    assert_eq!(ok(&set(valid_payment(), "/usageLimit", Value::Null)).usage_limit, None);
    assert_eq!(ok(&remove(valid_payment(), "/usageLimit")).usage_limit, None);
    assert_eq!(ok(&set(valid_payment(), "/usageLimit", json!(100))).usage_limit, Some(100));
    assert_eq!(ok(&set(valid_payment(), "/expiresInDays", json!(1))).expires_in_days, 1);
    assert_eq!(ok(&set(valid_payment(), "/expiresInDays", json!(3650))).expires_in_days, 3650);
    assert_eq!(ok(&set(valid_payment(), "/expiresInDays", Value::Null)).expires_in_days, 7);
    // A whole number written as 30.0 (as some JSON encoders do) is still a whole number.
    assert_eq!(ok(&set(valid_payment(), "/expiresInDays", json!(30.0))).expires_in_days, 30);
}

#[test]
fn plain_http_redirects_are_allowed_for_localhost_only() {
    for url in ["http://localhost:3000/thanks", "http://127.0.0.1/done", "http://[::1]:8080/x"] {
        let link = ok(&set(valid_payment(), "/successUrl", json!(url)));
        assert_eq!(link.checkout.success_url, url);
    }
}

#[test]
fn metadata_is_kept_as_json_text() {
    let metadata = json!({ "orderId": "A-1", "count": 3, "gift": true, "note": "héllo \"quoted\"" });
    let link = ok(&set(valid_payment(), "/metadata", metadata.clone()));
    assert_eq!(serde_json::from_str::<Value>(&link.checkout.metadata).unwrap(), metadata);
    assert_eq!(ok(&set(valid_payment(), "/metadata", Value::Null)).checkout.metadata, "{}");
}

/// A full, valid `appearance`.
fn valid_appearance() -> Value {
    json!({
        "primaryColor": "#1A56DB",
        "backgroundColor": "#f3f4f6",
        "textColor": "#111827",
        "buttonBackgroundColor": "#0f0",
        "logoUrl": "https://cdn.mystore.com/logo.png",
        "borderRadius": 8
    })
}

fn color(text: &str) -> HexColor {
    text.parse().unwrap()
}

#[test]
fn appearance_is_typed_with_colours_normalised_to_lower_case_rrggbb() {
    let link = ok(&set(valid_payment(), "/appearance", valid_appearance()));
    let appearance = &link.checkout.appearance;
    assert_eq!(
        *appearance,
        Appearance {
            primary_color: Some(color("#1a56db")),
            background_color: Some(color("#f3f4f6")),
            text_color: Some(color("#111827")),
            button_background_color: Some(color("#00ff00")),
            logo_url: Some("https://cdn.mystore.com/logo.png".to_owned()),
            border_radius: Some(8),
        }
    );
    let shown: Vec<String> = [appearance.primary_color, appearance.button_background_color]
        .into_iter()
        .map(|c| c.unwrap().to_string())
        .collect();
    assert_eq!(shown, ["#1a56db", "#00ff00"]);

    // Every field is optional; absent, null or empty is our own look.
    for appearance in [None, Some(Value::Null), Some(json!({}))] {
        let body = match appearance {
            Some(value) => set(valid_payment(), "/appearance", value),
            None => valid_payment(),
        };
        assert!(ok(&body).checkout.appearance.is_empty());
    }
    let link = ok(&set(valid_donation(), "/appearance", json!({ "borderRadius": 0, "textColor": "#000" })));
    assert_eq!(link.checkout.appearance.border_radius, Some(0));
    assert_eq!(link.checkout.appearance.text_color, Some(HexColor::BLACK));
    let link = ok(&set(valid_items(), "/appearance", json!({ "borderRadius": 32.0 })));
    assert_eq!(link.checkout.appearance.border_radius, Some(32));
}

#[test]
fn appearance_survives_a_store_round_trip_and_a_stored_bad_colour_is_refused() {
    let link = ok(&set(valid_payment(), "/appearance", valid_appearance()));
    let text = serde_json::to_string(&link.checkout).unwrap();
    assert_eq!(serde_json::from_str::<crate::model::Checkout>(&text).unwrap(), link.checkout);
    // A link without an appearance is stored exactly as before the field existed.
    let plain = ok(&valid_payment()).checkout;
    assert!(!serde_json::to_string(&plain).unwrap().contains("appearance"));
    // Whatever a store hands back is checked again: CSS text can never become a colour.
    let tampered = text.replace("#1a56db", "red;}body{display:none");
    assert!(serde_json::from_str::<crate::model::Checkout>(&tampered).is_err());
}

#[test]
fn automatic_button_text_is_always_readable() {
    for r in (0..=255).step_by(17) {
        for g in (0..=255).step_by(17) {
            for b in (0..=255).step_by(17) {
                let background = color(&format!("#{r:02x}{g:02x}{b:02x}"));
                let contrast = background.readable_text().contrast_with(background);
                assert!(contrast >= 4.5, "{background} with {} is {contrast:.2}:1", background.readable_text());
            }
        }
    }
    assert_eq!(color("#1a56db").readable_text(), HexColor::WHITE);
    assert_eq!(color("#ffd400").readable_text(), HexColor::BLACK);
}

// ---------------------------------------------------------------------------------------------
// Invalid requests: one case per rule
// ---------------------------------------------------------------------------------------------

/// A request body that breaks one rule, the path it must be reported under and a phrase of
/// the message.
struct Case {
    rule: &'static str,
    body: Vec<u8>,
    path: String,
    phrase: &'static str,
}

fn case(rule: &'static str, body: Value, path: &str, phrase: &'static str) -> Case {
    Case { rule, body: body.to_string().into_bytes(), path: path.to_owned(), phrase }
}

fn raw_case(rule: &'static str, body: &str, path: &str, phrase: &'static str) -> Case {
    Case { rule, body: body.as_bytes().to_vec(), path: path.to_owned(), phrase }
}

fn one_rule_cases() -> Vec<Case> {
    let pay = valid_payment;
    let items = valid_items;
    let donation = valid_donation;
    let long = |n: usize| "x".repeat(n);
    let many_keys = |n: usize, value: &str| Value::Object((0..n).map(|i| (format!("k{i}"), json!(value))).collect());
    let mut cases = vec![
        // Merchant.
        case("merchantId missing", remove(pay(), "/merchantId"), "merchantId", "is required"),
        case("merchantId not a string", set(pay(), "/merchantId", json!(42)), "merchantId", "must be a string"),
        case("merchantId empty", set(pay(), "/merchantId", json!("")), "merchantId", "must not be empty"),
        case("merchantId blank", set(pay(), "/merchantId", json!("   ")), "merchantId", "must not be empty"),
        case("merchantId too long", set(pay(), "/merchantId", json!(long(65))), "merchantId", "at most 64 characters"),
        case("merchantName missing", remove(pay(), "/merchantName"), "merchantName", "is required"),
        case(
            "merchantName too long",
            set(pay(), "/merchantName", json!(long(101))),
            "merchantName",
            "at most 100 characters",
        ),
        case("merchantName not a string", set(pay(), "/merchantName", json!(42)), "merchantName", "must be a string"),
        case("merchantName empty", set(pay(), "/merchantName", json!("")), "merchantName", "must not be empty"),
        // Currency.
        case("currency unknown", set(pay(), "/currency", json!("ABC")), "currency", "ISO 4217 currency code"),
        case("currency without minor unit", set(pay(), "/currency", json!("XAU")), "currency", "ISO 4217"),
        case("currency not a string", set(pay(), "/currency", json!(840)), "currency", "must be a string"),
        case("currency longer than 3", set(pay(), "/currency", json!("USDX")), "currency", "at most 3 characters"),
        // Amount.
        case(
            "amount too precise for USD",
            set(pay(), "/amount", json!("50.001")),
            "amount",
            "more decimal places than USD allows (2)",
        ),
        case(
            "amount too precise for JPY",
            set(set(pay(), "/currency", json!("JPY")), "/amount", json!("500.5")),
            "amount",
            "more decimal places than JPY allows (0)",
        ),
        case(
            "amount too precise for KWD",
            set(set(pay(), "/currency", json!("KWD")), "/amount", json!("1.2345")),
            "amount",
            "more decimal places than KWD allows (3)",
        ),
        case("amount zero", set(pay(), "/amount", json!("0.00")), "amount", "must be greater than 0"),
        case("amount negative", set(pay(), "/amount", json!("-5.00")), "amount", "must be greater than 0"),
        case("amount not a number", set(pay(), "/amount", json!("abc")), "amount", "must be a decimal number"),
        case("amount NaN", set(pay(), "/amount", json!("NaN")), "amount", "must be a decimal number"),
        case("amount a boolean", set(pay(), "/amount", json!(true)), "amount", "must be a decimal number"),
        case(
            "amount above maximum",
            set(pay(), "/amount", json!("1000000.00")),
            "amount",
            "must not exceed 999999.99 USD",
        ),
        raw_case(
            "amount a JSON number beyond f64",
            &pay().to_string().replace(r#""50.00""#, "1e400"),
            "amount",
            "must not exceed 999999.99 USD",
        ),
        case("amount missing without items", remove(pay(), "/amount"), "amount", "is required unless items are given"),
        case("amount null without items", set(pay(), "/amount", Value::Null), "amount", "is required"),
        // Expiry.
        case("expiresInDays zero", set(pay(), "/expiresInDays", json!(0)), "expiresInDays", "between 1 and 3650"),
        case(
            "expiresInDays too long",
            set(pay(), "/expiresInDays", json!(3651)),
            "expiresInDays",
            "between 1 and 3650",
        ),
        case("expiresInDays fractional", set(pay(), "/expiresInDays", json!(7.5)), "expiresInDays", "whole number"),
        case("expiresInDays a string", set(pay(), "/expiresInDays", json!("7")), "expiresInDays", "whole number"),
        raw_case(
            "expiresInDays beyond f64",
            &pay().to_string().replace(r#""expiresInDays":7"#, r#""expiresInDays":1e400"#),
            "expiresInDays",
            "between 1 and 3650",
        ),
        // Usage limit.
        case("usageLimit zero", set(pay(), "/usageLimit", json!(0)), "usageLimit", "between 1 and"),
        case("usageLimit negative", set(pay(), "/usageLimit", json!(-1)), "usageLimit", "between 1 and"),
        case("usageLimit fractional", set(pay(), "/usageLimit", json!(1.5)), "usageLimit", "whole number"),
        case("usageLimit a string", set(pay(), "/usageLimit", json!("3")), "usageLimit", "whole number"),
        raw_case(
            "usageLimit beyond u64",
            &pay().to_string().replace(r#""usageLimit":1"#, r#""usageLimit":18446744073709551616"#),
            "usageLimit",
            "between 1 and",
        ),
        raw_case(
            "usageLimit beyond f64 is not unlimited",
            &pay().to_string().replace(r#""usageLimit":1"#, r#""usageLimit":1e400"#),
            "usageLimit",
            "between 1 and",
        ),
        // Metadata.
        case("metadata not an object", set(pay(), "/metadata", json!("INV-1")), "metadata", "must be an object"),
        case("metadata an array", set(pay(), "/metadata", json!(["INV-1"])), "metadata", "must be an object"),
        case("metadata too many keys", set(pay(), "/metadata", many_keys(51, "v")), "metadata", "at most 50 keys"),
        case(
            "metadata key too long",
            set(pay(), &format!("/metadata/{}", long(41)), json!("v")),
            &format!("metadata.{}", long(41)),
            "key must be 1 to 40 characters",
        ),
        case("metadata key empty", set(pay(), "/metadata/", json!("v")), "metadata.", "key must be 1 to 40 characters"),
        case(
            "metadata value too long",
            set(pay(), "/metadata/invoiceId", json!(long(501))),
            "metadata.invoiceId",
            "at most 500 characters",
        ),
        case(
            "metadata nested object",
            set(pay(), "/metadata/invoiceId", json!({ "id": 1 })),
            "metadata.invoiceId",
            "string, number or boolean",
        ),
        raw_case(
            "metadata number beyond f64",
            &pay().to_string().replace(r#""INV-12345""#, "1e400"),
            "metadata.invoiceId",
            "number of ordinary size",
        ),
        case(
            "metadata over 10KB",
            set(pay(), "/metadata", many_keys(21, &long(500))),
            "metadata",
            "at most 10240 bytes",
        ),
        // Items.
        case("items empty", set(items(), "/items", json!([])), "items", "must list 1 to 100 items"),
        case(
            "more than 100 items",
            set(items(), "/items", Value::Array((0..101).map(|i| item(&format!("Item {i}"), json!(1), 1)).collect())),
            "items",
            "must list 1 to 100 items",
        ),
        case("items not an array", set(items(), "/items", json!({ "name": "Hat" })), "items", "must be an array"),
        case("item not an object", set(items(), "/items", json!(["Hat"])), "items[0]", "must be an object"),
        case("item name missing", remove(items(), "/items/0/name"), "items[0].name", "is required"),
        case("item price missing", remove(items(), "/items/0/price"), "items[0].price", "is required"),
        case("item price zero", set(items(), "/items/0/price", json!(0)), "items[0].price", "must be greater than 0"),
        case(
            "item price negative",
            set(items(), "/items/0/price", json!(-1.5)),
            "items[0].price",
            "must be greater than 0",
        ),
        case(
            "item price too precise",
            set(items(), "/items/0/price", json!(1.999)),
            "items[0].price",
            "more decimal places",
        ),
        case(
            "item quantity zero",
            set(items(), "/items/0/quantity", json!(0)),
            "items[0].quantity",
            "between 1 and 10000",
        ),
        case(
            "item quantity above 10000",
            set(items(), "/items/0/quantity", json!(10_001)),
            "items[0].quantity",
            "between 1 and 10000",
        ),
        case(
            "item productId too long",
            set(items(), "/items/0/productId", json!(long(101))),
            "items[0].productId",
            "at most 100 characters",
        ),
        case(
            "item name too long",
            set(items(), "/items/0/name", json!(long(201))),
            "items[0].name",
            "at most 200 characters",
        ),
        case(
            "item discountLabel too long",
            set(items(), "/items/0/discountLabel", json!(long(41))),
            "items[0].discountLabel",
            "at most 40 characters",
        ),
        case(
            "item quantity fractional",
            set(items(), "/items/0/quantity", json!(1.5)),
            "items[0].quantity",
            "whole number",
        ),
        case(
            "item imageUrl not https",
            set(items(), "/items/0/imageUrl", json!("http://cdn.example.com/jacket.jpg")),
            "items[0].imageUrl",
            "must use https",
        ),
        case(
            "item originalPrice equal to price",
            set(items(), "/items/0/originalPrice", json!(149.99)),
            "items[0].originalPrice",
            "greater than price",
        ),
        case(
            "item originalPrice below price",
            set(items(), "/items/0/originalPrice", json!(100)),
            "items[0].originalPrice",
            "greater than price",
        ),
        case(
            "item unknown field",
            set(items(), "/items/0/colour", json!("red")),
            "items[0].colour",
            "is not a known field",
        ),
        case(
            "items total overflow",
            set(items(), "/items", json!([item("Yacht", json!(999999.99), 10_000)])),
            "items",
            "total must not exceed 999999.99 USD",
        ),
        case(
            "items total above maximum",
            set(items(), "/items", json!([item("A", json!(600000), 1), item("B", json!(400000), 1)])),
            "items",
            "total must not exceed 999999.99 USD",
        ),
        case(
            "amount differs from items total",
            set(items(), "/amount", json!("100.00")),
            "amount",
            "must equal the items total (149.99)",
        ),
        // Checkout mode and donations.
        case(
            "checkoutMode unknown",
            set(pay(), "/checkoutMode", json!("subscription")),
            "checkoutMode",
            r#""payment" or "donation""#,
        ),
        case(
            "checkoutMode longer than 20",
            set(pay(), "/checkoutMode", json!(long(21))),
            "checkoutMode",
            "at most 20 characters",
        ),
        case(
            "donation without donationConfig",
            remove(donation(), "/donationConfig"),
            "donationConfig",
            "is required with checkoutMode",
        ),
        case(
            "donationConfig in payment mode",
            set(pay(), "/donationConfig", json!({ "presets": [5], "allowCustomAmount": true })),
            "donationConfig",
            "only with checkoutMode \"donation\"",
        ),
        case(
            "donation with amount",
            set(donation(), "/amount", json!("5.00")),
            "amount",
            "not allowed with checkoutMode \"donation\"",
        ),
        case(
            "donation with items",
            set(donation(), "/items", json!([item("Hat", json!(5), 1)])),
            "items",
            "not allowed with checkoutMode \"donation\"",
        ),
        case(
            "donation presets empty without custom amounts",
            set(
                set(remove(donation(), "/donationConfig/defaultAmount"), "/donationConfig/presets", json!([])),
                "/donationConfig/allowCustomAmount",
                json!(false),
            ),
            "donationConfig.presets",
            "at least one amount",
        ),
        case(
            "donation preset too precise",
            set(donation(), "/donationConfig/presets/0", json!(25.001)),
            "donationConfig.presets[0]",
            "more decimal places",
        ),
        case(
            "donation defaultAmount not a preset",
            set(
                set(donation(), "/donationConfig/defaultAmount", json!(30)),
                "/donationConfig/allowCustomAmount",
                json!(false),
            ),
            "donationConfig.defaultAmount",
            "one of the presets",
        ),
        case(
            "donation defaultAmount a custom amount under one whole unit",
            set(donation(), "/donationConfig/defaultAmount", json!(0.5)),
            "donationConfig.defaultAmount",
            "at least one whole unit",
        ),
        case(
            "donation more than 10 presets",
            set(donation(), "/donationConfig/presets", json!([5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55])),
            "donationConfig.presets",
            "at most 10 amounts",
        ),
        case(
            "donation allowCustomAmount not a boolean",
            set(donation(), "/donationConfig/allowCustomAmount", json!("yes")),
            "donationConfig.allowCustomAmount",
            "must be true or false",
        ),
        case(
            "donation defaultAmount below minAmount",
            set(set(donation(), "/donationConfig/minAmount", json!(20)), "/donationConfig/defaultAmount", json!(10)),
            "donationConfig.defaultAmount",
            "between minAmount and maxAmount",
        ),
        case(
            "donation defaultAmount above maxAmount",
            set(set(donation(), "/donationConfig/maxAmount", json!(300)), "/donationConfig/defaultAmount", json!(500)),
            "donationConfig.defaultAmount",
            "between minAmount and maxAmount",
        ),
        case(
            "donation minAmount above maxAmount",
            set(set(donation(), "/donationConfig/minAmount", json!(100)), "/donationConfig/maxAmount", json!(10)),
            "donationConfig.minAmount",
            "not be greater than maxAmount",
        ),
        case(
            "donation presets outside min and max",
            set(donation(), "/donationConfig/maxAmount", json!(100)),
            "donationConfig.presets",
            "between minAmount and maxAmount",
        ),
        case(
            "donationConfig unknown field",
            set(donation(), "/donationConfig/allowCustom", json!(true)),
            "donationConfig.allowCustom",
            "is not a known field",
        ),
        // Unknown fields and bodies that are not objects.
        case(
            "unknown field (typo)",
            set(remove(pay(), "/usageLimit"), "/usagelimit", json!(1)),
            "usagelimit",
            "is not a known field",
        ),
        raw_case("body not JSON", "merchantId=abc", "body", "must be a JSON object"),
        raw_case("body a JSON array", "[]", "body", "must be a JSON object"),
        raw_case("body empty", "", "body", "must be a JSON object"),
        raw_case("body null", "null", "body", "must be a JSON object"),
        raw_case("body with trailing text", r#"{"merchantId":"m"} {}"#, "body", "must be a JSON object"),
    ];
    cases.extend(appearance_cases());
    // Every redirect URL follows the same rules.
    for field in ["successUrl", "cancelUrl", "errorUrl"] {
        let pointer = format!("/{field}");
        let bad = |value: &str| set(pay(), &pointer, json!(value));
        cases.extend([
            case("URL missing", remove(pay(), &pointer), field, "is required"),
            case("URL relative", bad("/thank-you"), field, "must be an absolute URL"),
            case("URL javascript:", bad("javascript:alert(document.cookie)"), field, "must be an https URL"),
            case("URL plain http", bad("http://mystore.com/thank-you"), field, "must use https"),
            case("URL http on a localhost look-alike", bad("http://localhost.evil.com/x"), field, "must use https"),
            case("URL with a newline", bad("https://mystore.com/\r\nSet-Cookie: a=b"), field, "control characters"),
            case("URL with surrounding spaces", bad(" https://mystore.com/thank-you "), field, "spaces"),
            case("URL with credentials", bad("https://u:p@x.com"), field, "must not contain a user name or password"),
            case("URL not a string", set(pay(), &pointer, json!(["https://x.com"])), field, "must be a string"),
            case(
                "URL over 2048 characters",
                bad(&format!("https://mystore.com/{}", long(2048 - 19))),
                field,
                "at most 2048 characters",
            ),
            case(
                "URL over 2048 characters once percent-encoded",
                bad(&format!("https://mystore.com/{}", "é".repeat(400))),
                field,
                "at most 2048 characters once percent-encoded",
            ),
            case("URL without a host", bad("https://"), field, "must be an absolute URL"),
            case("URL with an empty host", bad("https://:443/thank-you"), field, "must be an absolute URL"),
        ]);
    }
    cases
}

/// Values that are not a colour, above all ones trying to smuggle CSS into the style block.
const NOT_COLOURS: [&str; 16] = [
    "red",
    "#12345",
    "#1234567",
    "#12g456",
    "#ff000080",
    "123456",
    "#",
    "",
    " #123456",
    "#fff; background:url(x)",
    "#fff}body{display:none",
    "#fff;--radius:999px",
    "expression(alert(1))",
    "url(https://evil.example/x.png)",
    "#fff</style><script>alert(1)</script>",
    "#\\66 ff",
];

/// Every way an appearance value can be wrong, each against an otherwise valid appearance.
fn appearance_cases() -> Vec<Case> {
    let with = |field: &str, value: Value| {
        let appearance = set(valid_appearance(), &format!("/{field}"), value);
        set(valid_payment(), "/appearance", appearance)
    };
    let mut cases = vec![
        case(
            "appearance not an object",
            set(valid_payment(), "/appearance", json!("#fff")),
            "appearance",
            "must be an object",
        ),
        case("appearance an array", set(valid_payment(), "/appearance", json!([])), "appearance", "must be an object"),
        case(
            "appearance unknown key",
            with("fontFamily", json!("Comic Sans")),
            "appearance.fontFamily",
            "is not a known field",
        ),
        case("appearance raw css key", with("css", json!("body{}")), "appearance.css", "is not a known field"),
        case(
            "text too light to read",
            with("textColor", json!("#f0f0f0")),
            "appearance.textColor",
            "contrast at least 4.5:1",
        ),
        case("text white on white", with("textColor", json!("#fff")), "appearance.textColor", "contrast"),
        case(
            "logo plain http",
            with("logoUrl", json!("http://cdn.mystore.com/logo.png")),
            "appearance.logoUrl",
            "must use https",
        ),
        case(
            "logo javascript:",
            with("logoUrl", json!("javascript:alert(1)")),
            "appearance.logoUrl",
            "must be an https URL",
        ),
        case(
            "logo data:",
            with("logoUrl", json!("data:image/svg+xml,<svg/>")),
            "appearance.logoUrl",
            "must be an https URL",
        ),
        case("logo relative", with("logoUrl", json!("/logo.png")), "appearance.logoUrl", "must be an absolute URL"),
        case("logo with a space", with("logoUrl", json!("https://x.com/a b.png")), "appearance.logoUrl", "spaces"),
        case("logo not a string", with("logoUrl", json!(1)), "appearance.logoUrl", "must be a string"),
        case("radius negative", with("borderRadius", json!(-1)), "appearance.borderRadius", "between 0 and 32"),
        case("radius too large", with("borderRadius", json!(33)), "appearance.borderRadius", "between 0 and 32"),
        case("radius huge", with("borderRadius", json!(1e300)), "appearance.borderRadius", "between 0 and 32"),
        case("radius with a unit", with("borderRadius", json!("8px")), "appearance.borderRadius", "whole number"),
        case("radius as a string", with("borderRadius", json!("8")), "appearance.borderRadius", "whole number"),
        case("radius fractional", with("borderRadius", json!(1.5)), "appearance.borderRadius", "whole number"),
        case("radius a boolean", with("borderRadius", json!(true)), "appearance.borderRadius", "whole number"),
    ];
    for field in ["primaryColor", "backgroundColor", "textColor", "buttonBackgroundColor"] {
        let path = format!("appearance.{field}");
        for value in NOT_COLOURS {
            cases.push(case("not a hex colour", with(field, json!(value)), &path, "must be a hex colour"));
        }
        for value in [json!(0x123456), json!(true), json!(["#fff"]), json!({ "hex": "#fff" })] {
            cases.push(case("colour not a string", with(field, value), &path, "must be a hex colour"));
        }
    }
    cases
}

#[test]
fn appearance_errors_never_echo_the_value_sent() {
    for value in NOT_COLOURS.into_iter().filter(|v| v.len() > 1) {
        let errors =
            errors_of(set(valid_payment(), "/appearance", json!({ "primaryColor": value })).to_string().as_bytes());
        assert_eq!(
            errors,
            [r##"appearance.primaryColor: must be a hex colour such as "#1a56db" or "#fff""##],
            "{value}"
        );
    }
}

#[test]
fn every_bad_appearance_field_is_reported_at_once() {
    let body = set(
        valid_payment(),
        "/appearance",
        json!({
            "primaryColor": "red",
            "backgroundColor": "#fff}body{display:none",
            "textColor": "#ffffff",
            "buttonBackgroundColor": "expression(alert(1))",
            "logoUrl": "javascript:alert(1)",
            "borderRadius": "8px",
            "customCss": "*{}"
        }),
    );
    let errors = errors_of(body.to_string().as_bytes());
    let mut paths: Vec<&str> = errors.iter().map(|e| e.split_once(": ").expect("path: message").0).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "appearance.backgroundColor",
            "appearance.borderRadius",
            "appearance.buttonBackgroundColor",
            "appearance.customCss",
            "appearance.logoUrl",
            "appearance.primaryColor",
            "appearance.textColor",
        ],
        "{errors:?}"
    );
}

#[test]
fn every_rule_is_reported_under_its_field_path() {
    let failures: Vec<String> = one_rule_cases()
        .into_iter()
        .filter_map(|Case { rule, body, path, phrase }| {
            let body_text = shown(&body);
            match validate_create(&body) {
                Ok(_) => Some(format!("{rule}: accepted {body_text}")),
                Err(ValidationErrors(errors)) if !has_error(&errors, &path, phrase) => {
                    Some(format!("{rule}: expected `{path}: …{phrase}…`, got {errors:?}"))
                }
                // One broken rule is one message: no knock-on errors that send the merchant
                // looking for problems that are not there.
                Err(ValidationErrors(errors)) if errors.len() != 1 => {
                    Some(format!("{rule}: expected only `{path}: …{phrase}…`, got {errors:?}"))
                }
                Err(_) => None,
            }
        })
        .collect();
    assert!(failures.is_empty(), "{} rule(s) not enforced as expected:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn an_unknown_currency_does_not_invent_errors_about_amounts() {
    for body in [valid_payment(), valid_items(), valid_donation()] {
        let errors = errors_of(set(body, "/currency", json!("ABC")).to_string().as_bytes());
        assert_eq!(errors, ["currency: must be an ISO 4217 currency code such as \"USD\""]);
    }
}

#[test]
fn deeply_nested_values_are_refused_not_ignored() {
    let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
    for field in ["usageLimit", "expiresInDays", "merchantId", "metadata", "amount", "items"] {
        let mut body = valid_payment().as_object().unwrap().clone();
        body.remove(field);
        let mut text = Value::Object(body).to_string();
        text.insert_str(1, &format!(r#""{field}":{deep},"#));
        let errors = errors_of(text.as_bytes());
        let (path, _) = errors[0].split_once(": ").expect("path: message");
        assert!(errors.len() == 1 && (path == field || path == format!("{field}[0]")), "{field}: {errors:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Every error at once
// ---------------------------------------------------------------------------------------------

#[test]
fn every_bad_field_is_reported_in_one_response() {
    let body = json!({
        "merchantName": "My Store",
        "amount": "0",
        "successUrl": "javascript:alert(1)",
        "cancelUrl": "https://mystore.com/cancelled",
        "errorUrl": "/error",
        "expiresInDays": 0,
        "usagelimit": 1,
        "metadata": { "invoice": { "id": 1 } },
    });
    let errors = errors_of(body.to_string().as_bytes());
    let mut paths: Vec<&str> = errors.iter().map(|e| e.split_once(": ").expect("path: message").0).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        ["amount", "errorUrl", "expiresInDays", "merchantId", "metadata.invoice", "successUrl", "usagelimit"],
        "{errors:?}"
    );

    let body = set(valid_items(), "/items", json!([item("", json!(0), 0), "Hat", item("Ok", json!(1.001), 1)]));
    let errors = errors_of(body.to_string().as_bytes());
    let mut paths: Vec<&str> = errors.iter().map(|e| e.split_once(": ").expect("path: message").0).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        ["items[0].name", "items[0].price", "items[0].quantity", "items[1]", "items[2].price"],
        "{errors:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

const TOP_FIELDS: [&str; 14] = [
    "merchantId",
    "merchantName",
    "amount",
    "currency",
    "successUrl",
    "cancelUrl",
    "errorUrl",
    "expiresInDays",
    "usageLimit",
    "metadata",
    "items",
    "checkoutMode",
    "donationConfig",
    "appearance",
];
const ITEM_FIELDS: [&str; 7] = ["productId", "name", "price", "quantity", "imageUrl", "originalPrice", "discountLabel"];
const DONATION_FIELDS: [&str; 5] = ["presets", "defaultAmount", "allowCustomAmount", "minAmount", "maxAmount"];
const APPEARANCE_FIELDS: [&str; 6] =
    ["primaryColor", "backgroundColor", "textColor", "buttonBackgroundColor", "logoUrl", "borderRadius"];

/// What may be said of a key the client wrote, known or not.
const ABOUT_ANY_KEY: [&str; 2] = [": is not a known field", ": must be given only once"];

/// Whether `message` is `"<a path the request can have>: <a sentence>"`. Keys nobody knows
/// may only appear in messages about the key itself (and as metadata keys).
fn names_a_known_path(message: &str, top_level_keys: &[String]) -> bool {
    let unknown = |rest: &str| ABOUT_ANY_KEY.iter().any(|about| rest.ends_with(about));
    let sentence = |rest: &str, field: &str| {
        rest.strip_prefix(field).and_then(|r| r.strip_prefix(": ")).is_some_and(|s| !s.trim().is_empty())
    };
    if sentence(message, "body") || TOP_FIELDS.iter().any(|f| sentence(message, f)) {
        return true;
    }
    if top_level_keys
        .iter()
        .any(|key| ABOUT_ANY_KEY.iter().any(|about| message == format!("{}{about}", super::shown_key(key))))
    {
        return true;
    }
    if let Some(rest) = message.strip_prefix("metadata.") {
        return rest.contains(": ");
    }
    if let Some(rest) = message.strip_prefix("items[") {
        let Some((index, rest)) = rest.split_once(']') else { return false };
        if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        if sentence(rest, "") {
            return true;
        }
        let Some(rest) = rest.strip_prefix('.') else { return false };
        return ITEM_FIELDS.iter().any(|f| sentence(rest, f)) || unknown(rest);
    }
    if let Some(rest) = message.strip_prefix("donationConfig.") {
        if let Some(preset) = rest.strip_prefix("presets[") {
            let Some((index, rest)) = preset.split_once(']') else { return false };
            return !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) && sentence(rest, "");
        }
        return DONATION_FIELDS.iter().any(|f| sentence(rest, f)) || unknown(rest);
    }
    if let Some(rest) = message.strip_prefix("appearance.") {
        return APPEARANCE_FIELDS.iter().any(|f| sentence(rest, f)) || unknown(rest);
    }
    false
}

fn check_outcome(body: &[u8], top_level_keys: &[String]) -> Result<(), TestCaseError> {
    if let Err(ValidationErrors(errors)) = validate_create(body) {
        prop_assert!(!errors.is_empty(), "refused with no reason: {}", shown(body));
        for message in &errors {
            prop_assert!(
                names_a_known_path(message, top_level_keys),
                "`{message}` does not start with a field path; body {}",
                shown(body)
            );
        }
    }
    Ok(())
}

/// Raw JSON text: numbers far beyond f64 and i64, fractions, negatives, unicode strings, values
/// the validator looks for, nested arrays and objects.
fn arb_json_text() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(|n| n.to_string())),
        "-?(0|[1-9][0-9]{0,40})(\\.[0-9]{1,30})?([eE][+-]?[0-9]{1,6})?",
    ];
    let string = prop_oneof![
        any::<String>(),
        "\\PC{0,30}",
        prop::sample::select(vec![
            "",
            " ",
            "25.00",
            "0",
            "-1",
            "0.001",
            "1e400",
            "NaN",
            "999999.99",
            "1000000",
            "USD",
            "JPY",
            "KWD",
            "XAU",
            "payment",
            "donation",
            "https://x.com/a",
            "http://localhost:3000/",
            "javascript:alert(1)",
            "https://u:p@x.com",
            "/relative",
            "\u{0}",
            "\u{202e}",
            "💸",
            "#1a56db",
            "#fff",
            "#fff}body{display:none",
        ])
        .prop_map(str::to_owned),
    ]
    .prop_map(|s| Value::String(s).to_string());
    let leaf = prop_oneof![Just("null".to_owned()), Just("true".to_owned()), Just("false".to_owned()), number, string,];
    let key = prop_oneof![
        prop::sample::select(
            TOP_FIELDS
                .iter()
                .chain(&ITEM_FIELDS)
                .chain(&DONATION_FIELDS)
                .chain(&APPEARANCE_FIELDS)
                .copied()
                .collect::<Vec<_>>()
        )
        .prop_map(str::to_owned),
        "\\PC{0,12}",
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|values| format!("[{}]", values.join(","))),
            prop::collection::vec((key.clone(), inner), 0..6).prop_map(|entries| {
                let entries: Vec<String> =
                    entries.into_iter().map(|(k, v)| format!("{}:{v}", Value::String(k))).collect();
                format!("{{{}}}", entries.join(","))
            }),
        ]
    })
}

/// One of the seed requests with `field` replaced by raw JSON text `value`.
fn with_raw_field(base: &Value, field: &str, value: &str) -> String {
    let mut entries: Vec<String> = base
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.as_str() != field)
        .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
        .collect();
    entries.push(format!("{}:{value}", Value::String(field.to_owned())));
    format!("{{{}}}", entries.join(","))
}

fn top_level_keys(text: &str) -> Vec<String> {
    serde_json::from_str::<std::collections::BTreeMap<String, Box<serde_json::value::RawValue>>>(text)
        .map(|m| m.into_keys().collect())
        .unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_are_answered_without_panicking(body in prop::collection::vec(any::<u8>(), 0..300)) {
        check_outcome(&body, &[])?;
    }

    #[test]
    fn any_json_body_is_answered_with_field_paths(body in arb_json_text()) {
        check_outcome(body.as_bytes(), &top_level_keys(&body))?;
    }

    #[test]
    fn any_json_in_any_known_field_is_answered_with_field_paths(
        base in prop::sample::select(vec![0, 1, 2]),
        field in prop::sample::select(TOP_FIELDS.to_vec()),
        value in arb_json_text(),
    ) {
        let base = [valid_payment(), valid_items(), valid_donation()][base].clone();
        let body = with_raw_field(&base, field, &value);
        check_outcome(body.as_bytes(), &[])?;
    }

    #[test]
    fn any_json_inside_items_and_donation_config_is_answered_with_field_paths(
        item_field in prop::sample::select(ITEM_FIELDS.to_vec()),
        donation_field in prop::sample::select(DONATION_FIELDS.to_vec()),
        value in arb_json_text(),
    ) {
        let items = valid_items();
        let item = with_raw_field(&items["items"][0], item_field, &value);
        let body = with_raw_field(&items, "items", &format!("[{item}]"));
        check_outcome(body.as_bytes(), &[])?;

        let donation = valid_donation();
        let config = with_raw_field(&donation["donationConfig"], donation_field, &value);
        let body = with_raw_field(&donation, "donationConfig", &config);
        check_outcome(body.as_bytes(), &[])?;
    }

    #[test]
    fn any_json_inside_appearance_is_answered_with_field_paths(
        field in prop::sample::select(APPEARANCE_FIELDS.to_vec()),
        value in arb_json_text(),
    ) {
        let appearance = with_raw_field(&valid_appearance(), field, &value);
        let body = with_raw_field(&valid_payment(), "appearance", &appearance);
        check_outcome(body.as_bytes(), &[])?;
    }

    #[test]
    fn any_text_accepted_as_a_colour_is_exactly_a_hex_colour(text in "#?[0-9a-fA-F;:{}() <>#\\\\]{0,8}") {
        let body = set(valid_payment(), "/appearance", json!({ "primaryColor": text }));
        if let Ok(link) = validate(&body) {
            let shown = link.checkout.appearance.primary_color.unwrap().to_string();
            prop_assert!(shown.len() == 7 && shown.starts_with('#') && shown[1..].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            let digits = text.strip_prefix('#').unwrap_or("-");
            prop_assert!((digits.len() == 3 || digits.len() == 6) && digits.bytes().all(|b| b.is_ascii_hexdigit()), "accepted {text}");
        }
    }

    #[test]
    fn every_valid_usd_amount_becomes_exactly_its_minor_units(minor in 1_i64..=99_999_999) {
        let text = format!("{}.{:02}", minor / 100, minor % 100);
        let link = validate(&set(valid_payment(), "/amount", json!(text))).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(amount_of(&link), MinorUnits(minor));

        // The same amount as an item's JSON number price, read from its exact text.
        let body = with_raw_field(&valid_items(), "items", &format!(r#"[{{"name":"X","price":{text}}}]"#));
        let link = validate_create(body.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(items_of(&link).1, MinorUnits(minor));
    }

    #[test]
    fn every_valid_kwd_amount_becomes_exactly_its_minor_units(minor in 1_i64..=999_999_999) {
        let text = format!("{}.{:03}", minor / 1000, minor % 1000);
        let body = set(set(valid_payment(), "/currency", json!("KWD")), "/amount", json!(text));
        let link = validate(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(amount_of(&link), MinorUnits(minor));
    }
}

#[test]
fn unknown_keys_that_are_not_plain_names_are_quoted_in_their_path() {
    let mut body = valid_payment();
    body[""] = serde_json::json!(1);
    body["a: b"] = serde_json::json!(1);
    let errors = validate(&body).unwrap_err().0;
    assert!(errors.contains(&r#""": is not a known field"#.to_owned()), "{errors:?}");
    assert!(errors.contains(&r#""a: b": is not a known field"#.to_owned()), "{errors:?}");
}

#[test]
fn a_null_donation_preset_is_refused_not_dropped() {
    let mut body = valid_donation();
    body["donationConfig"]["presets"] = json!([null, 25]);
    let errors = validate(&body).unwrap_err().0;
    assert_eq!(errors, vec!["donationConfig.presets[0]: is required".to_owned()]);
}

#[test]
fn a_key_given_twice_is_refused_wherever_the_request_has_objects() {
    // serde_json alone keeps the last value: here it would charge 100.00 while a proxy that
    // read the first saw 1.00.
    let text = valid_payment().to_string();
    let body = text.replacen('{', r#"{"amount":"1.00","#, 1);
    assert_eq!(errors_of(body.as_bytes()), vec!["amount: must be given only once"]);

    let items = valid_items().to_string().replacen(r#""price":"#, r#""price":1,"price":"#, 1);
    assert_eq!(errors_of(items.as_bytes()), vec!["items[0].price: must be given only once"]);

    let body = set(valid_payment(), "/metadata", json!({"invoiceId": "A"}))
        .to_string()
        .replace(r#""invoiceId":"A""#, r#""invoiceId":"A","invoiceId":"B""#);
    assert_eq!(errors_of(body.as_bytes()), vec!["metadata.invoiceId: must be given only once"]);
    let body = set(valid_payment(), "/appearance", json!({"textColor": "#000"}))
        .to_string()
        .replace(r##""textColor":"#000""##, r##""textColor":"#000","textColor":"#111""##);
    assert_eq!(errors_of(body.as_bytes()), vec!["appearance.textColor: must be given only once"]);
}
