//! A payment link as stored, what it sells and whether it can take a payment now.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Appearance, LinkId};
use crate::money::{Currency, MinorUnits};

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

impl DonationConfig {
    /// The smallest custom amount a donor may give: the merchant's `minAmount`, or one whole
    /// unit of the currency (1.00 USD, 1 JPY) when none is set, so a donation form is never a
    /// place to test stolen cards with a cent.
    pub fn smallest_custom_amount(&self, currency: Currency) -> MinorUnits {
        self.min_amount.unwrap_or(MinorUnits(10_i64.pow(currency.exponent())))
    }
}

/// What the customer is asked to pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Cart {
    /// A fixed amount.
    Amount { amount: MinorUnits },
    /// An itemised cart; `total` is the exact sum of the line totals.
    Items { items: Vec<Item>, total: MinorUnits },
    /// A session's copy of an itemised cart: the total it charges, without the items. They are
    /// fixed with the link (a link's checkout never changes), so the page reads them from the
    /// link, and opening a link of many items writes a small session. Links never hold this.
    ItemsOnLink { total: MinorUnits },
    /// The customer chooses the amount.
    Donation { donation: DonationConfig },
}

impl Cart {
    /// The amount to charge when it is fixed by the merchant (not for donations).
    pub fn fixed_total(&self) -> Option<MinorUnits> {
        match self {
            Cart::Amount { amount } => Some(*amount),
            Cart::Items { total, .. } | Cart::ItemsOnLink { total } => Some(*total),
            Cart::Donation { .. } => None,
        }
    }

    /// The seed's `checkoutMode`.
    pub fn checkout_mode(&self) -> &'static str {
        match self {
            Cart::Donation { .. } => "donation",
            Cart::Amount { .. } | Cart::Items { .. } | Cart::ItemsOnLink { .. } => "payment",
        }
    }
}

/// Everything a checkout needs, fixed when the link is created and copied into each session
/// (an itemised cart's items excepted: `Checkout::for_session`), so a session charges exactly what
/// the customer was shown.
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
    /// The merchant's Stripe Connect account (`acct_…`) when the link was created: its
    /// payments are made on that account (the `Stripe-Account` header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_account: Option<String>,
}

impl Checkout {
    /// What a session keeps of the link's checkout: all of it but an itemised cart's items,
    /// which are never cloned (on every open of a cart of many items, they are most of it).
    pub fn for_session(&self) -> Checkout {
        let Checkout {
            merchant_name,
            currency,
            cart,
            success_url,
            cancel_url,
            error_url,
            metadata,
            appearance,
            stripe_account,
        } = self;
        let cart = match cart {
            Cart::Items { total, .. } => Cart::ItemsOnLink { total: *total },
            cart => cart.clone(),
        };
        Checkout {
            merchant_name: merchant_name.clone(),
            currency: *currency,
            cart,
            success_url: success_url.clone(),
            cancel_url: cancel_url.clone(),
            error_url: error_url.clone(),
            metadata: metadata.clone(),
            appearance: appearance.clone(),
            stripe_account: stripe_account.clone(),
        }
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
    /// Pays are refused until then: cards from several clients were declined on the link
    /// within one card-testing window (see `checkout::guard`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_until: Option<DateTime<Utc>>,
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

impl Unavailable {
    /// The seed's sentence, as check-availability answers it.
    pub fn sentence(self) -> &'static str {
        match self {
            Unavailable::LimitReached => "Payment link usage limit reached",
            Unavailable::Expired => "Payment link has expired",
            Unavailable::Inactive => "Payment link is inactive",
        }
    }

    /// The stable machine code clients branch on.
    pub fn code(self) -> &'static str {
        match self {
            Unavailable::LimitReached => "link_usage_limit_reached",
            Unavailable::Expired => "link_expired",
            Unavailable::Inactive => "link_inactive",
        }
    }

    /// What a customer can do about it, on the page they see.
    pub fn advice(self) -> &'static str {
        match self {
            Unavailable::LimitReached => {
                "This payment link has already been used the maximum number of times. Contact the merchant for a new link."
            }
            Unavailable::Expired => "This payment link is no longer valid. Contact the merchant for a new link.",
            Unavailable::Inactive => {
                "The merchant has switched this payment link off. Contact the merchant for a new link."
            }
        }
    }
}

/// A link's state as the merchant API shows and filters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    Active,
    Inactive,
    Expired,
    LimitReached,
}

impl LinkStatus {
    pub const ALL: [LinkStatus; 4] =
        [LinkStatus::Active, LinkStatus::Inactive, LinkStatus::Expired, LinkStatus::LimitReached];

    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Active => "active",
            LinkStatus::Inactive => "inactive",
            LinkStatus::Expired => "expired",
            LinkStatus::LimitReached => "limit_reached",
        }
    }
}

impl PaymentLink {
    /// A new, active, unused link of `merchant_id` selling `checkout`, created `now` and
    /// expiring `expires_in_days` later.
    pub fn new(
        merchant_id: impl Into<String>,
        checkout: Checkout,
        usage_limit: Option<u64>,
        expires_in_days: u32,
        now: DateTime<Utc>,
    ) -> Self {
        PaymentLink {
            id: LinkId::generate(),
            merchant_id: merchant_id.into(),
            checkout,
            usage_limit,
            used: 0,
            reserved: 0,
            claims: BTreeMap::new(),
            active: true,
            pause_reason: None,
            blocked_until: None,
            created_at: now,
            expires_at: now + chrono::TimeDelta::days(i64::from(expires_in_days)),
        }
    }

    /// `active`, `inactive`, `expired` or `limit_reached`, as of `now`.
    pub fn status(&self, now: DateTime<Utc>) -> LinkStatus {
        match self.availability(now) {
            Ok(()) => LinkStatus::Active,
            Err(Unavailable::Inactive) => LinkStatus::Inactive,
            Err(Unavailable::Expired) => LinkStatus::Expired,
            Err(Unavailable::LimitReached) => LinkStatus::LimitReached,
        }
    }

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
