//! Raw request JSON -> a typed `CreateLink`, or every field error at once.
//!
//! Fields are read from their raw JSON text, so prices like `149.99` become minor units
//! exactly, never through f64. Every message starts with the field's path.

use std::collections::BTreeMap;

use serde_json::Value;
use serde_json::value::RawValue;

use self::duplicates::{parse_object, repeated_key_errors};
use crate::model::{Appearance, Cart, Checkout, DonationConfig, HexColor, Item, Merchant};
use crate::money::{Currency, MinorUnits, parse_amount, parse_decimal_string, parse_whole_number};

pub const DEFAULT_EXPIRES_IN_DAYS: u32 = 7;
pub const MAX_EXPIRES_IN_DAYS: u32 = 3650;
const MAX_ITEMS: usize = 100;
const MAX_ITEM_QUANTITY: u64 = 10_000;
const MAX_PRESETS: usize = 10;
const MAX_USAGE_LIMIT: u64 = 1_000_000_000;
const MAX_METADATA_KEYS: usize = 50;
const MAX_METADATA_KEY_CHARS: usize = 40;
const MAX_METADATA_VALUE_CHARS: usize = 500;
const MAX_METADATA_BYTES: usize = 10 * 1024;
const MAX_URL_CHARS: usize = 2048;

/// A valid create request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateLink {
    pub merchant_id: String,
    pub checkout: Checkout,
    pub usage_limit: Option<u64>,
    pub expires_in_days: u32,
}

/// Every problem found in a request, each `"<path>: <what is wrong>"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct ValidationErrors(pub Vec<String>);

type RawObject = BTreeMap<String, Box<RawValue>>;

/// Reads the fields of one JSON object, collecting errors under a path prefix.
struct Fields<'e> {
    prefix: String,
    object: RawObject,
    errors: &'e mut Vec<String>,
}

impl<'e> Fields<'e> {
    fn new(prefix: &str, object: RawObject, errors: &'e mut Vec<String>) -> Self {
        Fields { prefix: prefix.to_owned(), object, errors }
    }

    fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_owned() } else { format!("{}.{name}", self.prefix) }
    }

    fn error(&mut self, name: &str, message: impl std::fmt::Display) {
        let path = self.path(name);
        self.errors.push(format!("{path}: {message}"));
    }

    /// The raw JSON text of a field, treating `null` as absent. Fields are read from this text
    /// rather than a parsed `Value`: a number beyond f64 or nesting deeper than serde_json's
    /// limit cannot become a `Value`, and must be refused, never mistaken for an absent field.
    fn take_raw(&mut self, name: &str) -> Option<Box<RawValue>> {
        self.object.remove(name).filter(|raw| raw.get() != "null")
    }

    fn required<T>(&mut self, name: &str, value: Option<T>) -> Option<T> {
        if value.is_none() && !self.errors.iter().any(|e| e.starts_with(&format!("{}:", self.path(name)))) {
            self.error(name, "is required");
        }
        value
    }

    fn string(&mut self, name: &str, max_chars: usize) -> Option<String> {
        let raw = self.take_raw(name)?;
        match serde_json::from_str::<String>(raw.get()) {
            Ok(s) if s.trim().is_empty() => self.error(name, "must not be empty"),
            Ok(s) if s.chars().count() > max_chars => {
                self.error(name, format!("must be at most {max_chars} characters"))
            }
            Ok(s) => return Some(s),
            Err(_) => self.error(name, "must be a string"),
        }
        None
    }

    fn boolean(&mut self, name: &str) -> Option<bool> {
        match self.take_raw(name)?.get() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                self.error(name, "must be true or false");
                None
            }
        }
    }

    /// A whole number read from its exact text (`7`, `7.0`, `1e2`); a whole number out of range,
    /// however large (`1e400`), is reported as out of range rather than as not a number.
    fn integer(&mut self, name: &str, min: u64, max: u64) -> Option<u64> {
        let raw = self.take_raw(name)?;
        match parse_whole_number(raw.get()) {
            Ok(Some(n)) if (min..=max).contains(&n) => Some(n),
            Ok(_) => {
                self.error(name, format!("must be between {min} and {max}"));
                None
            }
            Err(_) => {
                self.error(name, "must be a whole number");
                None
            }
        }
    }

    /// A positive amount written as a JSON number (`149.99`) or a decimal string (`"149.99"`).
    fn money(&mut self, name: &str, currency: Option<Currency>) -> Option<MinorUnits> {
        let raw = self.take_raw(name)?;
        // A JSON string holds the decimal text; anything else is judged by its own text, so a
        // number is read exactly (even beyond f64) and `true`, `[]` or `{}` are not decimals.
        let string = serde_json::from_str::<String>(raw.get()).ok();
        // Without a valid currency the amount cannot be checked; currency reports its own error.
        let currency = currency?;
        let parsed = match &string {
            Some(text) => parse_decimal_string(text, currency),
            None => parse_amount(raw.get(), currency),
        };
        parsed.map_err(|e| self.error(name, e)).ok()
    }

    /// An absolute https URL, kept as the parser normalizes it: what is stored, shown and sent
    /// in `Location` is exactly the URL that was checked (`https:evil.com` becomes
    /// `https://evil.com/`, a non-ASCII host its punycode, other characters percent-encoded).
    fn url(&mut self, name: &str) -> Option<String> {
        let text = self.string(name, MAX_URL_CHARS)?;
        match normalize_redirect_url(&text) {
            Ok(url) if url.len() <= MAX_URL_CHARS => Some(url),
            Ok(_) => {
                self.error(name, format!("must be at most {MAX_URL_CHARS} characters once percent-encoded"));
                None
            }
            Err(message) => {
                self.error(name, message);
                None
            }
        }
    }

    /// A colour written `#rgb` or `#rrggbb`. The message never repeats what was sent.
    fn color(&mut self, name: &str) -> Option<HexColor> {
        let raw = self.take_raw(name)?;
        let color = serde_json::from_str::<String>(raw.get()).ok().and_then(|text| text.parse::<HexColor>().ok());
        if color.is_none() {
            self.error(name, "must be a hex colour such as \"#1a56db\" or \"#fff\"");
        }
        color
    }

    fn object(&mut self, name: &str) -> Option<RawObject> {
        let raw = self.take_raw(name)?;
        let Some((object, repeated)) = parse_object(raw.get().as_bytes()) else {
            self.error(name, "must be an object");
            return None;
        };
        let path = self.path(name);
        self.errors.extend(repeated_key_errors(&path, &repeated));
        Some(object)
    }

    fn array(&mut self, name: &str) -> Option<Vec<Box<RawValue>>> {
        let raw = self.take_raw(name)?;
        serde_json::from_str::<Vec<Box<RawValue>>>(raw.get()).map_err(|_| self.error(name, "must be an array")).ok()
    }

    /// Reports every field nobody asked for: a typo such as `usagelimit` must not silently
    /// create an unlimited link.
    fn reject_unknown(self) {
        for name in self.object.keys() {
            let shown = shown_key(name);
            let path = if self.prefix.is_empty() { shown } else { format!("{}.{shown}", self.prefix) };
            self.errors.push(format!("{path}: is not a known field"));
        }
    }
}

/// A request key as it appears in an error path: plain names as they are, anything else
/// (empty, spaces, ": ", non-ASCII) JSON-quoted, so the path before ": " is unambiguous.
pub(crate) fn shown_key(name: &str) -> String {
    let plain = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain { name.to_owned() } else { serde_json::to_string(name).unwrap_or_default() }
}

/// Checks a URL the customer will be sent to (or an image the page will load): absolute
/// https (plain http only for localhost), no credentials, no other scheme. Returns it
/// normalized, ASCII only, as the parser serializes it.
pub fn normalize_redirect_url(text: &str) -> Result<String, &'static str> {
    // The URL parser silently drops surrounding spaces and tabs or newlines anywhere, but the
    // text is stored and sent as given: it must be exactly what was checked (and a newline
    // must never reach a Location header).
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters (percent-encode them)");
    }
    let url = url::Url::parse(text).map_err(|_| "must be an absolute URL such as https://example.com/thanks")?;
    let is_local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if is_local => {}
        "http" => return Err("must use https (plain http is allowed only for localhost)"),
        _ => return Err("must be an https URL"),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password");
    }
    Ok(url.into())
}

/// Characters a customer cannot see or that reorder what they see: controls, zero-width
/// characters and joiners, bidirectional overrides and isolates, the byte-order mark. In a
/// merchant's name they could make one shop pass for another.
fn is_hidden_or_reordering(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}')
        || matches!(c, '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}' | '\u{00AD}')
}

/// Why a body is not a JSON object, saying where its JSON breaks when it is not JSON at all.
/// The errors for the keys `body`, a JSON object, gives twice at its top level (for bodies
/// read as a `serde_json::Value`, which keeps the last silently); none when it is no object.
#[cfg(feature = "webhooks")]
pub(crate) fn repeated_keys(body: &[u8]) -> Vec<String> {
    parse_object(body).map(|(_, repeated)| repeated_key_errors("", &repeated).collect()).unwrap_or_default()
}

fn not_an_object(body: &[u8]) -> String {
    match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        Err(error) if error.is_syntax() || error.is_eof() => {
            format!("body: must be a JSON object; it is not valid JSON: {error}")
        }
        _ => "body: must be a JSON object".to_owned(),
    }
}

/// Validates a create request body.
pub fn validate_create(body: &[u8]) -> Result<CreateLink, ValidationErrors> {
    let (object, repeated) = parse_object(body).ok_or_else(|| ValidationErrors(vec![not_an_object(body)]))?;
    let mut errors: Vec<String> = repeated_key_errors("", &repeated).collect();
    let mut fields = Fields::new("", object, &mut errors);

    let merchant_id = fields.string("merchantId", 64).filter(|id| {
        Merchant::is_valid_id(id) || {
            fields.error("merchantId", Merchant::ID_RULE);
            false
        }
    });
    let merchant_id = fields.required("merchantId", merchant_id);
    let merchant_name = fields.string("merchantName", 100).filter(|name| {
        !name.chars().any(is_hidden_or_reordering) || {
            fields.error("merchantName", "must not contain invisible, control or text-direction characters");
            false
        }
    });
    let merchant_name = fields.required("merchantName", merchant_name);

    let currency = match fields.string("currency", 3) {
        None if fields.errors.iter().any(|e| e.starts_with("currency:")) => None,
        None => Some(Currency::USD),
        Some(code) => code.parse::<Currency>().map_err(|e| fields.error("currency", e)).ok(),
    };

    let success_url = fields.url("successUrl");
    let success_url = fields.required("successUrl", success_url);
    let cancel_url = fields.url("cancelUrl");
    let cancel_url = fields.required("cancelUrl", cancel_url);
    let error_url = fields.url("errorUrl");
    let error_url = fields.required("errorUrl", error_url);

    let expires_in_days = fields
        .integer("expiresInDays", 1, u64::from(MAX_EXPIRES_IN_DAYS))
        .map_or(DEFAULT_EXPIRES_IN_DAYS, |days| days as u32);
    let usage_limit = fields.integer("usageLimit", 1, MAX_USAGE_LIMIT);
    let metadata = read_metadata(&mut fields);
    let cart = read_cart(&mut fields, currency);
    let appearance = read_appearance(&mut fields);
    fields.reject_unknown();

    match (merchant_id, merchant_name, currency, success_url, cancel_url, error_url, cart) {
        (
            Some(merchant_id),
            Some(merchant_name),
            Some(currency),
            Some(success_url),
            Some(cancel_url),
            Some(error_url),
            Some(cart),
        ) if errors.is_empty() => Ok(CreateLink {
            merchant_id,
            checkout: Checkout {
                merchant_name,
                currency,
                cart,
                success_url,
                cancel_url,
                error_url,
                metadata,
                appearance,
                // The merchant's, set by `links::create`: not the caller's to choose.
                stripe_account: None,
            },
            usage_limit,
            expires_in_days,
        }),
        _ => Err(ValidationErrors(errors)),
    }
}

/// Reads `appearance`: every value becomes a type that can only hold a colour, a URL the page
/// may load, or a small integer, so none can carry CSS (or HTML) of the merchant's choosing.
fn read_appearance(fields: &mut Fields<'_>) -> Appearance {
    let Some(object) = fields.object("appearance") else {
        return Appearance::default();
    };
    let mut fields = Fields::new(&fields.path("appearance"), object, fields.errors);
    let primary_color = fields.color("primaryColor");
    let background_color = fields.color("backgroundColor");
    let text_color = fields.color("textColor");
    if let Some(text) = text_color
        && text.contrast_with(HexColor::WHITE) < Appearance::MIN_TEXT_CONTRAST
    {
        let ratio = Appearance::MIN_TEXT_CONTRAST;
        fields.error(
            "textColor",
            format!("must be dark enough to read on the white checkout card (contrast at least {ratio}:1)"),
        );
    }
    let button_background_color = fields.color("buttonBackgroundColor");
    let logo_url = fields.url("logoUrl");
    let border_radius = fields.integer("borderRadius", 0, u64::from(Appearance::MAX_BORDER_RADIUS)).map(|px| px as u8);
    fields.reject_unknown();
    Appearance { primary_color, background_color, text_color, button_background_color, logo_url, border_radius }
}

fn read_metadata(fields: &mut Fields<'_>) -> String {
    let Some(object) = fields.object("metadata") else {
        return "{}".to_owned();
    };
    if object.len() > MAX_METADATA_KEYS {
        fields.error("metadata", format!("must have at most {MAX_METADATA_KEYS} keys"));
    }
    for (key, raw) in &object {
        if key.is_empty() || key.chars().count() > MAX_METADATA_KEY_CHARS {
            fields.error(&format!("metadata.{key}"), format!("key must be 1 to {MAX_METADATA_KEY_CHARS} characters"));
        }
        // Numbers must fit a double: whoever reads the metadata back must be able to parse it.
        match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::String(s)) if s.chars().count() > MAX_METADATA_VALUE_CHARS => fields
                .error(&format!("metadata.{key}"), format!("must be at most {MAX_METADATA_VALUE_CHARS} characters")),
            Ok(Value::String(_) | Value::Number(_) | Value::Bool(_)) => {}
            Err(_) if raw.get().starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
                fields.error(&format!("metadata.{key}"), "must be a number of ordinary size")
            }
            _ => fields.error(&format!("metadata.{key}"), "must be a string, number or boolean"),
        }
    }
    let text = serde_json::to_string(&object).unwrap_or_else(|_| "{}".to_owned());
    if text.len() > MAX_METADATA_BYTES {
        fields.error("metadata", format!("must be at most {MAX_METADATA_BYTES} bytes as JSON"));
    }
    text
}

/// Reads `amount`, `items`, `checkoutMode` and `donationConfig` into what the customer pays.
fn read_cart(fields: &mut Fields<'_>, currency: Option<Currency>) -> Option<Cart> {
    let mode = fields.string("checkoutMode", 20);
    let is_donation = match mode.as_deref() {
        None | Some("payment") => false,
        Some("donation") => true,
        Some(_) => {
            fields.error("checkoutMode", "must be \"payment\" or \"donation\"");
            false
        }
    };
    let mode_is_valid = !fields.errors.iter().any(|e| e.starts_with("checkoutMode:"));
    let amount_given = fields.object.get("amount").is_some_and(|raw| raw.get() != "null");
    let amount = fields.money("amount", currency);
    let items = read_items(fields, currency);
    let donation_raw = fields.object("donationConfig");
    // Without a valid mode the rules tying amount, items and donationConfig together are
    // unknown: each was checked on its own above, and guessing would only add false errors.
    if !mode_is_valid {
        return None;
    }

    if is_donation {
        if amount_given {
            fields.error("amount", "is not allowed with checkoutMode \"donation\": use donationConfig");
        }
        if items.is_some() {
            fields.error("items", "is not allowed with checkoutMode \"donation\"");
        }
        let Some(raw) = donation_raw else {
            if !fields.errors.iter().any(|e| e.starts_with("donationConfig:")) {
                fields.error("donationConfig", "is required with checkoutMode \"donation\"");
            }
            return None;
        };
        let donation = read_donation(fields.path("donationConfig"), raw, fields.errors, currency)?;
        return Some(Cart::Donation { donation });
    }
    if donation_raw.is_some() {
        fields.error("donationConfig", "is allowed only with checkoutMode \"donation\"");
    }
    match (amount, items) {
        (_, Some(Err(()))) => None,
        (amount, Some(Ok(items))) => {
            let total = cart_total(&items, currency?).map_err(|e| fields.error("items", e)).ok()?;
            if amount.is_some_and(|amount| amount != total) {
                let total = total.to_decimal_string(currency?);
                fields.error("amount", format!("must equal the items total ({total}) or be omitted"));
                return None;
            }
            Some(Cart::Items { items, total })
        }
        (Some(amount), None) => Some(Cart::Amount { amount }),
        (None, None) => {
            if !amount_given {
                fields.error("amount", "is required unless items are given or checkoutMode is \"donation\"");
            }
            None
        }
    }
}

/// Σ price × quantity, exact, within the currency's maximum.
fn cart_total(items: &[Item], currency: Currency) -> Result<MinorUnits, String> {
    let too_large = || {
        let max = MinorUnits(currency.max_minor()).to_decimal_string(currency);
        format!("total must not exceed {max} {currency}")
    };
    let total =
        items.iter().try_fold(MinorUnits(0), |sum, item| sum.checked_add(item.line_total()?)).ok_or_else(too_large)?;
    if total.0 > currency.max_minor() { Err(too_large()) } else { Ok(total) }
}

/// `Some(Ok(items))` when valid, `Some(Err(()))` when given but invalid, `None` when absent.
fn read_items(fields: &mut Fields<'_>, currency: Option<Currency>) -> Option<Result<Vec<Item>, ()>> {
    let raw_items = fields.array("items");
    if raw_items.is_none() {
        return fields.errors.iter().any(|e| e.starts_with("items:")).then_some(Err(()));
    }
    let raw_items = raw_items?;
    if raw_items.is_empty() || raw_items.len() > MAX_ITEMS {
        fields.error("items", format!("must list 1 to {MAX_ITEMS} items"));
        return Some(Err(()));
    }
    let errors_before = fields.errors.len();
    let mut items = Vec::with_capacity(raw_items.len());
    for (index, raw) in raw_items.iter().enumerate() {
        let path = fields.path(&format!("items[{index}]"));
        match parse_object(raw.get().as_bytes()) {
            Some((object, repeated)) => {
                fields.errors.extend(repeated_key_errors(&path, &repeated));
                items.extend(read_item(Fields::new(&path, object, fields.errors), currency));
            }
            None => fields.errors.push(format!("{path}: must be an object")),
        }
    }
    Some(if fields.errors.len() == errors_before { Ok(items) } else { Err(()) })
}

fn read_item(mut fields: Fields<'_>, currency: Option<Currency>) -> Option<Item> {
    let product_id = fields.string("productId", 100);
    let name = fields.string("name", 200);
    let name = fields.required("name", name);
    let price = fields.money("price", currency);
    let price = if currency.is_some() { fields.required("price", price) } else { price };
    let quantity = fields.integer("quantity", 1, MAX_ITEM_QUANTITY).unwrap_or(1) as u32;
    let image_url = fields.url("imageUrl");
    let original_price = fields.money("originalPrice", currency);
    let discount_label = fields.string("discountLabel", 40);
    if let (Some(price), Some(original)) = (price, original_price)
        && original <= price
    {
        fields.error("originalPrice", "must be greater than price (it is shown struck through)");
    }
    fields.reject_unknown();
    Some(Item { product_id, name: name?, price: price?, quantity, image_url, original_price, discount_label })
}

fn read_donation(
    prefix: String,
    object: RawObject,
    errors: &mut Vec<String>,
    currency: Option<Currency>,
) -> Option<DonationConfig> {
    let mut fields = Fields::new(&prefix, object, errors);
    let mut presets = Vec::new();
    if let Some(raw_presets) = fields.array("presets") {
        if raw_presets.len() > MAX_PRESETS {
            fields.error("presets", format!("must list at most {MAX_PRESETS} amounts"));
        }
        for (index, raw) in raw_presets.into_iter().enumerate() {
            let name = format!("presets[{index}]");
            let mut one = RawObject::new();
            one.insert(name.clone(), raw);
            let mut preset_fields = Fields::new(&prefix, one, fields.errors);
            // `null` means "absent" for a field, but a list entry cannot be absent.
            let preset = preset_fields.money(&name, currency);
            let preset = if currency.is_some() { preset_fields.required(&name, preset) } else { preset };
            presets.extend(preset);
        }
    }
    let default_amount = fields.money("defaultAmount", currency);
    let allow_custom_amount = fields.boolean("allowCustomAmount").unwrap_or(false);
    let min_amount = fields.money("minAmount", currency);
    let max_amount = fields.money("maxAmount", currency);
    fields.reject_unknown();
    // Without a valid currency no amount could be read: currency reports its own error.
    let currency = currency?;
    let mut fields = Fields::new(&prefix, RawObject::new(), errors);
    let config = DonationConfig { presets, default_amount, allow_custom_amount, min_amount, max_amount };
    let presets = &config.presets;

    if presets.is_empty() && !allow_custom_amount {
        fields.error("presets", "must list at least one amount when allowCustomAmount is false");
    }
    if let (Some(min), Some(max)) = (min_amount, max_amount)
        && min > max
    {
        fields.error("minAmount", "must not be greater than maxAmount");
    }
    // With minAmount above maxAmount no amount lies between them: that one error says it all.
    let range_is_valid = !matches!((min_amount, max_amount), (Some(min), Some(max)) if min > max);
    let in_range = |amount: MinorUnits| {
        !range_is_valid || min_amount.is_none_or(|min| amount >= min) && max_amount.is_none_or(|max| amount <= max)
    };
    if presets.iter().any(|p| !in_range(*p)) {
        fields.error("presets", "must all lie between minAmount and maxAmount");
    }
    if let Some(default) = default_amount {
        if !allow_custom_amount && !presets.contains(&default) {
            fields.error("defaultAmount", "must be one of the presets when allowCustomAmount is false");
        } else if !in_range(default) {
            fields.error("defaultAmount", "must lie between minAmount and maxAmount");
        } else if !presets.contains(&default) && default < config.smallest_custom_amount(currency) {
            // Offered as a custom amount, it must be one the form takes (one whole unit at least
            // when minAmount is not set).
            fields.error(
                "defaultAmount",
                "must be one of the presets or at least one whole unit when minAmount is not set",
            );
        }
    }
    if fields.errors.iter().any(|e| e.starts_with(&prefix)) {
        return None;
    }
    Some(config)
}

mod duplicates;
#[cfg(test)]
mod tests;
