//! What is stored: merchants, payment links and checkout sessions.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::money::{Currency, MinorUnits};

/// Defines an id type written as `<prefix><ULID>`: 80 random bits, so ids can't be guessed.
macro_rules! prefixed_id {
    ($name:ident, $prefix:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, Ulid::new()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            /// Accepts only `<prefix><26 Crockford base32 chars>`, so a path segment is
            /// checked before it reaches the store.
            fn from_str(text: &str) -> Result<Self, InvalidId> {
                let ulid = text.strip_prefix($prefix).ok_or(InvalidId)?;
                Ulid::from_string(ulid).map_err(|_| InvalidId)?;
                Ok(Self(text.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(text: String) -> Result<Self, InvalidId> {
                text.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(LinkId, "pl_");
prefixed_id!(SessionId, "cs_");

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id")]
pub struct InvalidId;

/// A merchant account. Keys are never stored, only their SHA-256 hashes (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Merchant {
    pub id: String,
    pub name: String,
    pub vault_key_hash: String,
    pub merchant_key_hash: String,
    pub created_at: DateTime<Utc>,
}

/// One line of an itemised cart; prices in minor units of the link's currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub product_id: Option<String>,
    pub name: String,
    pub price: MinorUnits,
    pub quantity: u32,
    pub image_url: Option<String>,
    pub original_price: Option<MinorUnits>,
    pub discount_label: Option<String>,
}

impl Item {
    /// price x quantity, or None on overflow.
    pub fn line_total(&self) -> Option<MinorUnits> {
        self.price.checked_mul(i64::from(self.quantity))
    }
}

/// How a donation page offers amounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DonationConfig {
    pub presets: Vec<MinorUnits>,
    pub default_amount: Option<MinorUnits>,
    pub allow_custom_amount: bool,
    pub min_amount: Option<MinorUnits>,
    pub max_amount: Option<MinorUnits>,
}

/// What the customer is asked to pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Cart {
    /// A fixed amount.
    Amount { amount: MinorUnits },
    /// An itemised cart; `total` is the exact sum of the line totals.
    Items { items: Vec<Item>, total: MinorUnits },
    /// The customer chooses the amount.
    Donation { donation: DonationConfig },
}

impl Cart {
    /// The amount to charge when it is fixed by the merchant (not for donations).
    pub fn fixed_total(&self) -> Option<MinorUnits> {
        match self {
            Cart::Amount { amount } => Some(*amount),
            Cart::Items { total, .. } => Some(*total),
            Cart::Donation { .. } => None,
        }
    }

    /// The seed's `checkoutMode`.
    pub fn checkout_mode(&self) -> &'static str {
        match self {
            Cart::Donation { .. } => "donation",
            Cart::Amount { .. } | Cart::Items { .. } => "payment",
        }
    }
}

/// Everything a checkout needs, fixed when the link is created and copied into each session,
/// so a session charges exactly what the customer was shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkout {
    pub merchant_name: String,
    pub currency: Currency,
    pub cart: Cart,
    pub success_url: String,
    pub cancel_url: String,
    pub error_url: String,
    /// The merchant's metadata, kept as JSON text so any value round-trips through any store.
    pub metadata: String,
    /// How the checkout page looks; empty (the default) is our own look, and is not stored.
    #[serde(default, skip_serializing_if = "Appearance::is_empty")]
    pub appearance: Appearance,
}

/// A merchant's branding for the checkout page. Every value is typed and validated (colours
/// are `#rrggbb`, the radius a small integer), so what reaches the page's style block can
/// only ever be a colour or a length: never CSS text of the merchant's choosing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Appearance {
    /// Accents: focus rings, the chosen donation amount, and the pay button unless
    /// `button_background_color` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_color: Option<HexColor>,
    /// The page behind the checkout card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_color: Option<HexColor>,
    /// Text on the (white) checkout card; validated to be readable on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_color: Option<HexColor>,
    /// The pay button; its label is black or white, whichever reads better on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button_background_color: Option<HexColor>,
    /// Shown above the merchant's name; checked like every other URL a page loads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// Corner radius of the card, fields and buttons, in CSS pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub border_radius: Option<u8>,
}

impl Appearance {
    /// The largest `border_radius` accepted.
    pub const MAX_BORDER_RADIUS: u8 = 32;
    /// The contrast `text_color` must reach on the white card (WCAG AA for body text).
    pub const MIN_TEXT_CONTRAST: f64 = 4.5;

    pub fn is_empty(&self) -> bool {
        *self == Appearance::default()
    }
}

/// A colour written `#rrggbb` in lower case. Parsed from `#rgb` or `#rrggbb` (any case) and
/// nothing else, also when read back from a store, so it is always safe inside CSS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HexColor([u8; 3]);

impl HexColor {
    pub const WHITE: HexColor = HexColor([0xff, 0xff, 0xff]);
    pub const BLACK: HexColor = HexColor([0, 0, 0]);

    /// WCAG 2 relative luminance, 0 (black) to 1 (white).
    pub fn relative_luminance(self) -> f64 {
        let linear = |channel: u8| {
            let c = f64::from(channel) / 255.0;
            if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        };
        let [r, g, b] = self.0;
        0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    }

    /// WCAG 2 contrast ratio, 1 to 21.
    pub fn contrast_with(self, other: HexColor) -> f64 {
        let (a, b) = (self.relative_luminance(), other.relative_luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// Black or white, whichever is easier to read on this colour (always at least 4.5:1).
    pub fn readable_text(self) -> HexColor {
        if self.contrast_with(HexColor::WHITE) >= self.contrast_with(HexColor::BLACK) {
            HexColor::WHITE
        } else {
            HexColor::BLACK
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a hex colour")]
pub struct InvalidColor;

impl FromStr for HexColor {
    type Err = InvalidColor;
    fn from_str(text: &str) -> Result<Self, InvalidColor> {
        let digits = text.strip_prefix('#').ok_or(InvalidColor)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidColor);
        }
        let nibble = |i: usize| u8::from_str_radix(&digits[i..=i], 16).map_err(|_| InvalidColor);
        match digits.len() {
            3 => Ok(HexColor([nibble(0)? * 17, nibble(1)? * 17, nibble(2)? * 17])),
            6 => {
                let byte = |i: usize| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| InvalidColor);
                Ok(HexColor([byte(0)?, byte(2)?, byte(4)?]))
            }
            _ => Err(InvalidColor),
        }
    }
}

impl TryFrom<String> for HexColor {
    type Error = InvalidColor;
    fn try_from(text: String) -> Result<Self, InvalidColor> {
        text.parse()
    }
}

impl From<HexColor> for String {
    fn from(color: HexColor) -> String {
        color.to_string()
    }
}

impl fmt::Display for HexColor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")
    }
}

/// A payment link as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentLink {
    pub id: LinkId,
    pub merchant_id: String,
    pub checkout: Checkout,
    /// Completed payments allowed; None means unlimited.
    pub usage_limit: Option<u64>,
    /// Completed payments so far. Written as 0 at creation so conditions can compare it.
    pub used: u64,
    /// Uses held for limited links: completed payments plus payments in progress. Never above
    /// `usage_limit`; claimed before a card is charged, so a link can never be oversold.
    #[serde(default)]
    pub reserved: u64,
    /// Payments in progress on a limited link: session id -> when the hold lapses. A session
    /// that dies mid-payment gives its use back once its hold lapses.
    #[serde(default)]
    pub claims: BTreeMap<String, DateTime<Utc>>,
    pub active: bool,
    /// Why the service switched the link off by itself (card testing), for the merchant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Why a link cannot take a payment right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    Inactive,
    Expired,
    LimitReached,
}

impl PaymentLink {
    /// Decided on every read against the clock: TTL deletion may lag by days.
    pub fn availability(&self, now: DateTime<Utc>) -> Result<(), Unavailable> {
        if !self.active {
            Err(Unavailable::Inactive)
        } else if now >= self.expires_at {
            Err(Unavailable::Expired)
        } else if self.usage_limit.is_some_and(|limit| self.used >= limit) {
            Err(Unavailable::LimitReached)
        } else {
            Ok(())
        }
    }
}

/// Lifecycle of a checkout session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Pending,
    Completed,
    Failed,
    Cancelled,
    Expired,
}

/// One customer's visit to a link: created on every open of `/pay/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutSession {
    pub id: SessionId,
    pub link_id: LinkId,
    pub merchant_id: String,
    pub checkout: Checkout,
    pub status: SessionStatus,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Random per session, carried by the pay form and checked on every POST.
    #[serde(default)]
    pub form_token: String,
    /// Payment attempts started so far; numbers the processor idempotency keys.
    #[serde(default)]
    pub attempts: u32,
    /// The attempt being charged right now, if any. At most one per session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<PaymentAttempt>,
    /// Set once, when the session is completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentResult>,
    /// Why a failed session failed (`SYSTEM_ERROR`, `SESSION_FAILED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<String>,
}

/// A charge in progress on a session: who holds it and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentAttempt {
    pub number: u32,
    pub amount: MinorUnits,
    /// Past this instant the attempt is presumed dead (its process crashed) and a retry may
    /// take it over, with the same idempotency key so the card is never charged twice.
    pub lease_until: DateTime<Utc>,
}

impl PaymentAttempt {
    /// The key the processor deduplicates charges by.
    pub fn idempotency_key(&self, session: &SessionId) -> String {
        format!("{session}:{}", self.number)
    }
}

/// What a completed payment charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentResult {
    pub transaction_id: String,
    pub amount: MinorUnits,
    pub card_brand: String,
    pub card_last_four: String,
    pub completed_at: DateTime<Utc>,
}

impl CheckoutSession {
    /// How long a customer has to pay once they open a link.
    pub const LIFETIME: chrono::TimeDelta = chrono::TimeDelta::minutes(30);

    /// A fresh pending session for `link`, never outliving the link itself.
    pub fn open(link: &PaymentLink, now: DateTime<Utc>) -> Self {
        CheckoutSession {
            id: SessionId::generate(),
            link_id: link.id.clone(),
            merchant_id: link.merchant_id.clone(),
            checkout: link.checkout.clone(),
            status: SessionStatus::Pending,
            created_at: now,
            expires_at: (now + Self::LIFETIME).min(link.expires_at),
            form_token: hex::encode(rand::random::<[u8; 16]>()),
            attempts: 0,
            in_flight: None,
            payment: None,
            failure_code: None,
        }
    }

    /// The status as of `now`: a pending session past its expiry is expired.
    pub fn status_at(&self, now: DateTime<Utc>) -> SessionStatus {
        match self.status {
            SessionStatus::Pending if now >= self.expires_at => SessionStatus::Expired,
            status => status,
        }
    }

    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.status_at(now) == SessionStatus::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_reject_anything_else() {
        let id = LinkId::generate();
        assert!(id.as_str().starts_with("pl_"));
        assert_eq!(id.as_str().len(), 3 + 26);
        assert_eq!(id.as_str().parse::<LinkId>(), Ok(id.clone()));
        assert!(id.as_str().parse::<SessionId>().is_err());
        for bad in ["", "pl_", "pl_123", "cs_01ARZ3NDEKTSV4RRFFQ69G5FAV", "pl_01ARZ3NDEKTSV4RRFFQ69G5FA/", "../etc"] {
            assert!(bad.parse::<LinkId>().is_err(), "{bad}");
        }
    }
}
