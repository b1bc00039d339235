//! Money: ISO 4217 currencies and amounts as integer minor units.
//!
//! Text becomes minor units once, here, through an exact decimal type; nothing in the
//! service ever does arithmetic on floating point money.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Largest amount accepted for any single total: 999,999.99 in a two-decimal currency,
/// that is one million major units less one minor unit in every currency.
const MAX_MAJOR_UNITS: i64 = 1_000_000;

/// An ISO 4217 currency that has minor units (funds and special codes such as XAU are refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(iso_currency::Currency);

impl Currency {
    pub const USD: Currency = Currency(iso_currency::Currency::USD);

    /// The three-letter code, e.g. `USD`.
    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Decimal places of the minor unit: USD 2, JPY 0, KWD 3.
    pub fn exponent(self) -> u32 {
        // Construction guarantees an exponent exists.
        u32::from(self.0.exponent().unwrap_or(0))
    }

    /// The largest total accepted in this currency, in minor units.
    pub fn max_minor(self) -> i64 {
        MAX_MAJOR_UNITS * 10_i64.pow(self.exponent()) - 1
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        let currency = iso_currency::Currency::from_code(&code.to_ascii_uppercase())
            .filter(|c| c.exponent().is_some() && !c.is_fund() && !c.is_special())
            .ok_or(MoneyError::UnknownCurrency)?;
        Ok(Currency(currency))
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        code.parse()
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> String {
        currency.code().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount in a currency's minor unit (cents for USD, yen for JPY, fils for KWD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MinorUnits(pub i64);

impl MinorUnits {
    /// Formats as a decimal string with the currency's exponent: 2500 USD -> "25.00".
    pub fn to_decimal_string(self, currency: Currency) -> String {
        Decimal::new(self.0, currency.exponent()).to_string()
    }

    pub fn checked_add(self, other: MinorUnits) -> Option<MinorUnits> {
        self.0.checked_add(other.0).map(MinorUnits)
    }

    pub fn checked_mul(self, factor: i64) -> Option<MinorUnits> {
        self.0.checked_mul(factor).map(MinorUnits)
    }
}

/// Why a piece of text is not an acceptable amount. Messages complete "field: ...".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a decimal number such as \"25.00\"")]
    NotADecimal,
    #[error("must be greater than 0")]
    NotPositive,
    #[error("has more decimal places than {currency} allows ({exponent})")]
    TooPrecise { currency: Currency, exponent: u32 },
    #[error("must not exceed {max} {currency}")]
    TooLarge { currency: Currency, max: String },
    #[error("must be an ISO 4217 currency code such as \"USD\"")]
    UnknownCurrency,
}

/// Parses a positive decimal amount (a JSON string such as `"25.00"`, or the exact text of a
/// JSON number such as `149.99` or `1.5e2`) into minor units of `currency`.
pub fn parse_amount(text: &str, currency: Currency) -> Result<MinorUnits, MoneyError> {
    let decimal = parse_decimal_text(text)?.normalize();
    if decimal.is_sign_negative() || decimal.is_zero() {
        return Err(MoneyError::NotPositive);
    }
    let exponent = currency.exponent();
    if decimal.scale() > exponent {
        return Err(MoneyError::TooPrecise { currency, exponent });
    }
    let too_large =
        || MoneyError::TooLarge { currency, max: MinorUnits(currency.max_minor()).to_decimal_string(currency) };
    // scale <= exponent, so mantissa * 10^(exponent - scale) is the exact minor amount.
    let minor = i64::try_from(decimal.mantissa())
        .ok()
        .and_then(|m| m.checked_mul(10_i64.checked_pow(exponent - decimal.scale())?))
        .ok_or_else(too_large)?;
    if minor > currency.max_minor() {
        return Err(too_large());
    }
    Ok(MinorUnits(minor))
}

/// Accepts plain decimals (`12`, `12.5`, `-3`) and JSON exponent notation (`1.5e2`); refuses
/// what `Decimal` would otherwise tolerate in user input (`+1`, `1_000`, ` 1`, `.5`, `NaN`).
fn parse_decimal_text(text: &str) -> Result<Decimal, MoneyError> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => digits_only(whole) && digits_only(fraction),
        None => digits_only(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits_only(e.strip_prefix(['+', '-']).unwrap_or(e)));
    if !mantissa_ok || !exponent_ok {
        return Err(MoneyError::NotADecimal);
    }
    let parsed = match exponent {
        Some(_) => Decimal::from_scientific(text),
        None => Decimal::from_str_exact(text),
    };
    // Text too long or too precise for 96 bits is far beyond any acceptable amount.
    parsed.map_err(|_| MoneyError::NotADecimal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        code.parse().unwrap()
    }

    #[test]
    fn parses_to_minor_units_for_zero_two_and_three_decimal_currencies() {
        let cases = [
            ("25.00", "USD", 2500),
            ("25", "USD", 2500),
            ("0.01", "USD", 1),
            ("149.99", "USD", 14999),
            ("1.5e2", "USD", 15000),
            ("500", "JPY", 500),
            ("500.0", "JPY", 500),
            ("1.234", "KWD", 1234),
            ("0.001", "KWD", 1),
        ];
        for (text, code, minor) in cases {
            assert_eq!(parse_amount(text, currency(code)), Ok(MinorUnits(minor)), "{text} {code}");
        }
    }

    #[test]
    fn formats_with_the_currency_exponent() {
        assert_eq!(MinorUnits(2500).to_decimal_string(currency("USD")), "25.00");
        assert_eq!(MinorUnits(1).to_decimal_string(currency("USD")), "0.01");
        assert_eq!(MinorUnits(500).to_decimal_string(currency("JPY")), "500");
        assert_eq!(MinorUnits(1234).to_decimal_string(currency("KWD")), "1.234");
    }

    #[test]
    fn round_trips_every_formatted_amount() {
        for code in ["USD", "JPY", "KWD", "EUR", "BHD", "CLP"] {
            let c = currency(code);
            for minor in [1, 7, 10, 99, 100, 12345, c.max_minor()] {
                let text = MinorUnits(minor).to_decimal_string(c);
                assert_eq!(parse_amount(&text, c), Ok(MinorUnits(minor)), "{text} {code}");
            }
        }
    }

    #[test]
    fn refuses_too_many_decimals_for_the_currency() {
        assert!(matches!(parse_amount("1.001", currency("USD")), Err(MoneyError::TooPrecise { exponent: 2, .. })));
        assert!(matches!(parse_amount("1.5", currency("JPY")), Err(MoneyError::TooPrecise { exponent: 0, .. })));
        assert!(matches!(parse_amount("1.0001", currency("KWD")), Err(MoneyError::TooPrecise { exponent: 3, .. })));
    }

    #[test]
    fn refuses_zero_negative_and_text_that_is_not_a_plain_decimal() {
        let usd = currency("USD");
        for text in ["0", "0.00", "-1", "-0.01"] {
            assert_eq!(parse_amount(text, usd), Err(MoneyError::NotPositive), "{text}");
        }
        for text in ["", "abc", "NaN", "inf", "+1", "1_000", " 1", "1 ", ".5", "5.", "1,00", "0x10", "1e", "--1"] {
            assert_eq!(parse_amount(text, usd), Err(MoneyError::NotADecimal), "{text:?}");
        }
    }

    #[test]
    fn refuses_amounts_above_the_maximum_and_overflow() {
        let usd = currency("USD");
        assert_eq!(parse_amount("999999.99", usd), Ok(MinorUnits(99_999_999)));
        assert!(matches!(parse_amount("1000000.00", usd), Err(MoneyError::TooLarge { .. })));
        assert!(matches!(parse_amount("1e30", usd), Err(MoneyError::TooLarge { .. })));
        assert!(matches!(parse_amount("99999999999999999999999999999999999", usd), Err(MoneyError::NotADecimal)));
        assert_eq!(parse_amount("999999", currency("JPY")), Ok(MinorUnits(999_999)));
        assert!(matches!(parse_amount("1000000", currency("JPY")), Err(MoneyError::TooLarge { .. })));
    }

    #[test]
    fn currency_codes_are_iso_4217_with_minor_units() {
        assert_eq!(currency("usd"), Currency::USD);
        assert_eq!(currency("KWD").exponent(), 3);
        assert_eq!("XAU".parse::<Currency>(), Err(MoneyError::UnknownCurrency));
        assert_eq!("ABC".parse::<Currency>(), Err(MoneyError::UnknownCurrency));
        assert_eq!("".parse::<Currency>(), Err(MoneyError::UnknownCurrency));
    }
}
