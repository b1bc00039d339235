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

    /// For people: `$50.00 USD`, `€9.99 EUR`, `¥500 JPY`, or `1.234 KWD` where no short symbol
    /// exists. Always with the code: many currencies share a sign (`$` is also CAD, MXN, AUD…;
    /// `¥` also CNY), and a customer must see which one they pay in.
    pub fn display(self, currency: Currency) -> String {
        let amount = self.to_decimal_string(currency);
        let symbol = currency.0.symbol().symbol;
        let short_sign = symbol.chars().count() <= 2 && !symbol.chars().any(|c| c.is_ascii_alphanumeric());
        let sign = if short_sign { symbol.as_str() } else { "" };
        format!("{sign}{amount} {currency}")
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
///
/// Well-formed text is judged by its value, however long it is: `1e30` is too large and
/// `1e-30` too precise, never "not a decimal".
pub fn parse_amount(text: &str, currency: Currency) -> Result<MinorUnits, MoneyError> {
    let decimal = parse_decimal_text(text)?;
    if decimal.negative || decimal.digits.is_empty() {
        return Err(MoneyError::NotPositive);
    }
    let exponent = currency.exponent();
    if decimal.scale > i64::from(exponent) {
        return Err(MoneyError::TooPrecise { currency, exponent });
    }
    let too_large =
        || MoneyError::TooLarge { currency, max: MinorUnits(currency.max_minor()).to_decimal_string(currency) };
    // scale <= exponent, so digits * 10^(exponent - scale) is the exact minor amount; more than
    // 18 digits cannot fit an i64 and is far above any maximum.
    let zeros = i64::from(exponent) - decimal.scale;
    if decimal.digits.len() as i64 + zeros > 18 {
        return Err(too_large());
    }
    let minor = decimal.digits.bytes().fold(0_i64, |n, b| n * 10 + i64::from(b - b'0')) * 10_i64.pow(zeros as u32);
    if minor > currency.max_minor() {
        return Err(too_large());
    }
    Ok(MinorUnits(minor))
}

/// Parses an amount written as a decimal string (`"25.00"` in a request, a donor's typed
/// amount): plain decimal notation only. Exponent form (`"1e3"`) is JSON's way of writing
/// numbers, never a person's way of writing money, so in a string it is refused.
pub fn parse_decimal_string(text: &str, currency: Currency) -> Result<MinorUnits, MoneyError> {
    if text.contains(['e', 'E']) {
        return Err(MoneyError::NotADecimal);
    }
    parse_amount(text, currency)
}

/// Reads the exact text of a JSON number that must be a whole number (a count, a number of
/// days): `Ok(Some(n))`; `Ok(None)` when it is whole but negative or beyond `u64` (`-1`,
/// `1e400`); `Err(NotADecimal)` for fractions (`7.5`) and anything that is not a number.
/// `7.0` and `1e2` are whole numbers.
pub fn parse_whole_number(text: &str) -> Result<Option<u64>, MoneyError> {
    let decimal = parse_decimal_text(text)?;
    if decimal.digits.is_empty() {
        return Ok(Some(0));
    }
    if decimal.scale > 0 {
        return Err(MoneyError::NotADecimal);
    }
    let zeros = -decimal.scale;
    if decimal.negative || decimal.digits.len() as i64 + zeros > 20 {
        return Ok(None);
    }
    let digits = decimal.digits.bytes().fold(0_u128, |n, b| n * 10 + u128::from(b - b'0'));
    Ok(u64::try_from(digits * 10_u128.pow(zeros as u32)).ok())
}

/// A decimal number as `(-1)^negative × digits × 10^-scale`, with `digits` free of leading
/// and trailing zeros (empty for zero).
struct DecimalText {
    negative: bool,
    digits: String,
    scale: i64,
}

/// Accepts plain decimals (`12`, `12.5`, `-3`) and JSON exponent notation (`1.5e2`); refuses
/// anything else a user might type (`+1`, `1_000`, ` 1`, `.5`, `5.`, `NaN`, `inf`).
fn parse_decimal_text(text: &str) -> Result<DecimalText, MoneyError> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, "0"));
    let mantissa_ok = digits_only(whole) && digits_only(fraction);
    let exponent = match exponent {
        None => 0,
        Some(e) => {
            let (sign, magnitude) = match e.strip_prefix('-') {
                Some(m) => (-1, m),
                None => (1, e.strip_prefix('+').unwrap_or(e)),
            };
            if !digits_only(magnitude) {
                return Err(MoneyError::NotADecimal);
            }
            // Saturate: an exponent beyond a billion decides the outcome by its sign alone.
            let magnitude = magnitude.trim_start_matches('0');
            let value = if magnitude.len() > 10 { 1_000_000_000_000 } else { magnitude.parse::<i64>().unwrap_or(0) };
            sign * value
        }
    };
    if !mantissa_ok {
        return Err(MoneyError::NotADecimal);
    }
    let all_digits = format!("{whole}{fraction}");
    let significant = all_digits.trim_start_matches('0');
    let trimmed = significant.trim_end_matches('0');
    let scale = fraction.len() as i64 - exponent - (significant.len() - trimmed.len()) as i64;
    Ok(DecimalText { negative, digits: trimmed.to_owned(), scale })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        code.parse().unwrap()
    }

    #[test]
    fn amounts_shown_to_customers_always_say_their_currency() {
        let shown = |minor: i64, code: &str| MinorUnits(minor).display(currency(code));
        assert_eq!(shown(5000, "USD"), "$50.00 USD");
        assert_eq!(shown(500, "JPY"), "¥500 JPY");
        assert_eq!(shown(1234, "KWD"), "1.234 KWD");
        // Currencies that share a sign never look alike.
        assert_ne!(shown(5000, "USD"), shown(5000, "MXN"));
        for (minor, code) in [(5000, "CAD"), (5000, "AUD"), (50000, "CNY"), (5000, "EGP")] {
            assert!(shown(minor, code).ends_with(&format!(" {code}")), "{}", shown(minor, code));
        }
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
            // Exponent notation and trailing zeros are read exactly.
            ("1E2", "USD", 10000),
            ("1e+2", "USD", 10000),
            ("1999e-2", "USD", 1999),
            ("1.500", "USD", 150),
            ("1.000000000000000000000000000000000", "USD", 100),
            ("0000000000000000000000000000000012.50", "USD", 1250),
            ("5e1", "JPY", 50),
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
        for text in ["1e-3", "1e-30", "1e-99999999999999999999", "0.0000000000000000000000000000001"] {
            assert!(matches!(parse_amount(text, currency("USD")), Err(MoneyError::TooPrecise { .. })), "{text}");
        }
    }

    #[test]
    fn refuses_zero_negative_and_text_that_is_not_a_plain_decimal() {
        let usd = currency("USD");
        for text in ["0", "0.00", "-0", "-1", "-0.01", "0e5", "-1e30", "0.000000000000000000000000000000000"] {
            assert_eq!(parse_amount(text, usd), Err(MoneyError::NotPositive), "{text}");
        }
        for text in [
            "", "abc", "NaN", "inf", "+1", "1_000", " 1", "1 ", ".5", "5.", "1,00", "0x10", "1e", "--1", "1e+-2",
            "1.2.3", "1e2.5", "e5", "-",
        ] {
            assert_eq!(parse_amount(text, usd), Err(MoneyError::NotADecimal), "{text:?}");
        }
    }

    #[test]
    fn refuses_amounts_above_the_maximum_and_overflow() {
        let usd = currency("USD");
        assert_eq!(parse_amount("999999.99", usd), Ok(MinorUnits(99_999_999)));
        assert!(matches!(parse_amount("1000000.00", usd), Err(MoneyError::TooLarge { .. })));
        // Well-formed but huge text is too large, not "not a decimal", however many digits it has.
        for text in ["1e30", "1e400", "1E99999999999999999999", "99999999999999999999999999999999999", "1000000"] {
            assert!(matches!(parse_amount(text, usd), Err(MoneyError::TooLarge { .. })), "{text}");
        }
        assert_eq!(parse_amount("999999", currency("JPY")), Ok(MinorUnits(999_999)));
        assert!(matches!(parse_amount("1000000", currency("JPY")), Err(MoneyError::TooLarge { .. })));
    }

    #[test]
    fn whole_numbers_are_read_exactly_and_out_of_range_is_not_confused_with_fractions() {
        let cases = [
            ("7", Ok(Some(7))),
            ("7.0", Ok(Some(7))),
            ("1e2", Ok(Some(100))),
            ("0", Ok(Some(0))),
            ("18446744073709551615", Ok(Some(u64::MAX))),
            ("18446744073709551616", Ok(None)),
            ("1e400", Ok(None)),
            ("-1", Ok(None)),
            ("7.5", Err(MoneyError::NotADecimal)),
            ("1e-1", Err(MoneyError::NotADecimal)),
            ("\"7\"", Err(MoneyError::NotADecimal)),
            ("true", Err(MoneyError::NotADecimal)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_whole_number(text), expected, "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_parsed_or_refused_without_panicking(text in "\\PC{0,40}|-?[0-9]{0,30}(\\.[0-9]{0,30})?([eE][+-]?[0-9]{0,25})?") {
            for code in ["USD", "JPY", "KWD"] {
                let _ = parse_amount(&text, currency(code));
            }
            let _ = parse_whole_number(&text);
        }

        #[test]
        fn every_amount_up_to_the_maximum_round_trips(minor in 1_i64..=999_999_999, code in "USD|JPY|KWD|EUR|BHD") {
            let c = currency(&code);
            let minor = minor.min(c.max_minor());
            let text = MinorUnits(minor).to_decimal_string(c);
            proptest::prop_assert_eq!(parse_amount(&text, c), Ok(MinorUnits(minor)));
        }
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
