//! What a processor decided about one charge, and the record kept of it per idempotency key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::money::{Currency, MinorUnits};

/// What the processor decided. Stored as the processor's idempotency record, so it holds
/// the brand and last four digits only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ChargeOutcome {
    Approved { transaction_id: String, card_brand: String, card_last_four: String },
    Declined { reason: DeclineReason },
}

/// Declines the customer can fix by trying again, perhaps with another card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    Declined,
    InsufficientFunds,
    ExpiredCard,
    IncorrectCvc,
    /// The customer did not complete the bank's check (3-D Secure).
    AuthenticationFailed,
    NotATestCard,
}

impl DeclineReason {
    /// The reason's code as stored (`insufficient_funds`…): what the checkout page's URL
    /// carries after a decline.
    pub fn code(self) -> String {
        let code = serde_json::to_value(self).ok();
        code.and_then(|code| code.as_str().map(str::to_owned)).unwrap_or_default()
    }

    pub fn message(self) -> &'static str {
        match self {
            DeclineReason::Declined => "Your card was declined. Try another card.",
            DeclineReason::InsufficientFunds => "Your card has insufficient funds. Try another card.",
            DeclineReason::ExpiredCard => "Your card has expired. Try another card.",
            DeclineReason::IncorrectCvc => "Your card's security code is incorrect. Check it and try again.",
            DeclineReason::AuthenticationFailed => {
                "Your bank could not confirm this payment. Try again, or use another card."
            }
            DeclineReason::NotATestCard => {
                "This checkout is in test mode: no real card is charged. Use a test card such as 4242 4242 4242 4242."
            }
        }
    }
}

/// What the sandbox keeps per idempotency key, as a real provider does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeRecord {
    pub idempotency_key: String,
    pub amount: MinorUnits,
    pub currency: Currency,
    pub outcome: ChargeOutcome,
    pub voided: bool,
    pub created_at: DateTime<Utc>,
}
