//! The card a customer typed: validated here, then held only as long as the charge takes.
//!
//! Numbers and CVCs live in `SecretString`s, which print as `[REDACTED]` and are zeroed on
//! drop; only the brand and the last four digits ever leave this module.

use chrono::{DateTime, Datelike, Utc};
use secrecy::{ExposeSecret, SecretString};

/// A card that passed the format checks (Luhn, length, brand, expiry, CVC).
pub struct Card {
    number: SecretString,
    cvc: SecretString,
    pub brand: &'static str,
    pub last_four: String,
    pub holder: String,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Card({} ending {})", self.brand, self.last_four)
    }
}

impl Card {
    /// The digits, for the processor only.
    pub fn number(&self) -> &str {
        self.number.expose_secret()
    }

    pub fn cvc(&self) -> &str {
        self.cvc.expose_secret()
    }
}

/// What is wrong with the card, in words the customer can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("Enter your card number.")]
    MissingNumber,
    #[error("This card number is not valid. Check the digits and try again.")]
    InvalidNumber,
    #[error("Enter the expiry date as MM/YY.")]
    InvalidExpiry,
    #[error("This card has expired.")]
    Expired,
    #[error("Enter the 3 or 4 digit security code (CVC) from your card.")]
    InvalidCvc,
    #[error("Enter the name on the card.")]
    MissingName,
}

/// Checks the four card fields of the pay form.
pub fn parse_card(number: &str, expiry: &str, cvc: &str, holder: &str, now: DateTime<Utc>) -> Result<Card, CardError> {
    // Customers type spaces and dashes; nothing else is tolerated.
    let digits: String = number.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if digits.is_empty() {
        return Err(CardError::MissingNumber);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CardError::InvalidNumber);
    }
    let brand = card_validate::Validate::from(&digits).map_err(|_| CardError::InvalidNumber)?.card_type;
    check_expiry(expiry, now)?;
    let cvc_len = if brand == card_validate::Type::Amex { 4 } else { 3 };
    let cvc = cvc.trim();
    if cvc.len() != cvc_len || !cvc.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CardError::InvalidCvc);
    }
    let holder = holder.trim();
    if holder.is_empty() || holder.chars().count() > 100 {
        return Err(CardError::MissingName);
    }
    Ok(Card {
        last_four: digits[digits.len() - 4..].to_owned(),
        number: SecretString::from(digits),
        cvc: SecretString::from(cvc.to_owned()),
        brand: brand_name(brand),
        holder: holder.to_owned(),
    })
}

/// `MM/YY` (also `MM / YY` and `MM/YYYY`), valid through the last day of that month.
fn check_expiry(expiry: &str, now: DateTime<Utc>) -> Result<(), CardError> {
    let compact: String = expiry.chars().filter(|c| !c.is_whitespace()).collect();
    let (month, year) = compact.split_once('/').ok_or(CardError::InvalidExpiry)?;
    let month: u32 = month.parse().ok().filter(|m| (1..=12).contains(m)).ok_or(CardError::InvalidExpiry)?;
    let year: i32 = match year.len() {
        2 => 2000 + year.parse::<i32>().map_err(|_| CardError::InvalidExpiry)?,
        4 => year.parse().map_err(|_| CardError::InvalidExpiry)?,
        _ => return Err(CardError::InvalidExpiry),
    };
    if (year, month) < (now.year(), now.month()) {
        return Err(CardError::Expired);
    }
    if year > now.year() + 20 {
        return Err(CardError::InvalidExpiry);
    }
    Ok(())
}

fn brand_name(brand: card_validate::Type) -> &'static str {
    use card_validate::Type;
    match brand {
        Type::Visa | Type::VisaElectron => "visa",
        Type::MasterCard => "mastercard",
        Type::Amex => "amex",
        Type::Discover => "discover",
        Type::DinersClub => "diners",
        Type::JCB => "jcb",
        Type::UnionPay => "unionpay",
        Type::Maestro => "maestro",
        Type::MIR => "mir",
        _ => "card",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-25T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn accepts_test_cards_as_customers_type_them() {
        let card = parse_card("4242 4242 4242 4242", "12/30", "123", " Ada Lovelace ", now()).unwrap();
        assert_eq!((card.brand, card.last_four.as_str(), card.holder.as_str()), ("visa", "4242", "Ada Lovelace"));
        assert_eq!(card.number(), "4242424242424242");
        let amex = parse_card("3782-822463-10005", "11 / 2026", "1234", "A", now()).unwrap();
        assert_eq!((amex.brand, amex.last_four.as_str()), ("amex", "0005"));
    }

    #[test]
    fn never_prints_the_number_or_cvc() {
        let card = parse_card("4242424242424242", "12/30", "987", "Ada", now()).unwrap();
        let printed = format!("{card:?}");
        assert!(!printed.contains("42424242") && !printed.contains("987"), "{printed}");
    }

    #[test]
    fn refuses_what_the_customer_must_fix() {
        let cases = [
            ("", "12/30", "123", "Ada", CardError::MissingNumber),
            ("4242 4242 4242 4241", "12/30", "123", "Ada", CardError::InvalidNumber),
            ("4242abcd42424242", "12/30", "123", "Ada", CardError::InvalidNumber),
            ("4242", "12/30", "123", "Ada", CardError::InvalidNumber),
            ("4242424242424242", "13/30", "123", "Ada", CardError::InvalidExpiry),
            ("4242424242424242", "1230", "123", "Ada", CardError::InvalidExpiry),
            ("4242424242424242", "10/26", "123", "Ada", CardError::Expired),
            ("4242424242424242", "12/30", "12", "Ada", CardError::InvalidCvc),
            ("4242424242424242", "12/30", "1234", "Ada", CardError::InvalidCvc),
            ("378282246310005", "12/30", "123", "Ada", CardError::InvalidCvc),
            ("4242424242424242", "12/30", "123", "  ", CardError::MissingName),
        ];
        for (number, expiry, cvc, name, expected) in cases {
            assert_eq!(parse_card(number, expiry, cvc, name, now()).unwrap_err(), expected, "{number} {expiry} {cvc}");
        }
    }

    #[test]
    fn a_card_is_valid_through_its_expiry_month() {
        assert!(parse_card("4242424242424242", "11/26", "123", "Ada", now()).is_ok());
    }
}
