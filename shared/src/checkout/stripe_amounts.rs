//! Amounts as Stripe's API states them. Stripe counts in minor units of its own decimals per
//! currency (<https://docs.stripe.com/currencies#minor-units>), which are ISO 4217's except for
//! a few: MGA is zero-decimal at Stripe (two decimals in ISO), ISK two-decimal (zero in ISO,
//! whole krónur only: <https://support.stripe.com/questions/deprecation-of-fractional-isk-charges-and-refunds>),
//! and the card networks take three-decimal currencies only in tens; and Stripe refuses a
//! charge under its smallest amount. Not behind the `stripe` feature: creating a link on a Stripe
//! deployment refuses amounts Stripe cannot charge.

use crate::money::{Currency, MinorUnits};

/// Stripe's zero-decimal currencies (<https://docs.stripe.com/currencies#zero-decimal>).
const ZERO_DECIMAL: [&str; 16] =
    ["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"];

/// Three-decimal currencies, whose last digit must be 0 (<https://docs.stripe.com/currencies#three-decimal>).
const THREE_DECIMAL: [&str; 5] = ["BHD", "JOD", "KWD", "OMR", "TND"];

/// Stripe's smallest charge, in ISO minor units, for the currencies it lists
/// (<https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts>). Stripe applies it
/// in the merchant's settlement currency, after conversion: exact when the link's currency is the
/// settlement currency, an approximation otherwise. For currencies it does not list, Stripe
/// itself refuses what converts to less than its minimum.
const MINIMUM_CHARGE: [(&str, i64); 24] = [
    ("AED", 200),
    ("AUD", 50),
    ("BGN", 100),
    ("BRL", 50),
    ("CAD", 50),
    ("CHF", 50),
    ("CZK", 1500),
    ("DKK", 250),
    ("EUR", 50),
    ("GBP", 30),
    ("HKD", 400),
    ("HUF", 17500),
    ("INR", 50),
    ("JPY", 50),
    ("MXN", 1000),
    ("MYR", 200),
    ("NOK", 300),
    ("NZD", 50),
    ("PLN", 200),
    ("RON", 200),
    ("SEK", 300),
    ("SGD", 50),
    ("THB", 1000),
    ("USD", 50),
];

/// Stripe's smallest charge in `currency`, when Stripe lists one.
pub fn minimum_charge(currency: Currency) -> Option<MinorUnits> {
    MINIMUM_CHARGE.iter().find(|(code, _)| *code == currency.code()).map(|(_, minor)| MinorUnits(*minor))
}

/// `amount` as Stripe's `amount`, or why Stripe would refuse to charge it: not exactly
/// (`to_stripe`), or under its smallest charge.
pub fn to_stripe_charge(amount: MinorUnits, currency: Currency) -> Result<i64, String> {
    match under_smallest_charge(amount, currency) {
        Some(why) => Err(why),
        None => to_stripe(amount, currency),
    }
}

/// Why `amount` is under Stripe's smallest charge in `currency`, if it is.
fn under_smallest_charge(amount: MinorUnits, currency: Currency) -> Option<String> {
    let minimum = minimum_charge(currency).filter(|minimum| amount < *minimum)?;
    Some(format!("Stripe's smallest charge in {} is {}", currency.code(), minimum.to_decimal_string(currency)))
}

/// The decimals of Stripe's amounts in `currency`.
fn stripe_decimals(currency: Currency) -> u32 {
    match currency.code() {
        code if ZERO_DECIMAL.contains(&code) => 0,
        code if THREE_DECIMAL.contains(&code) => 3,
        _ => 2,
    }
}

/// `amount` (ISO minor units of `currency`) as Stripe's `amount`, or why Stripe cannot charge
/// it exactly: never rounded, a customer pays what the page showed or nothing.
pub fn to_stripe(amount: MinorUnits, currency: Currency) -> Result<i64, String> {
    let (iso, stripe) = (currency.exponent(), stripe_decimals(currency));
    let code = currency.code();
    let stated = if stripe >= iso {
        amount.0.checked_mul(10_i64.pow(stripe - iso)).ok_or_else(|| format!("{code} amount too large for Stripe"))?
    } else {
        let unit = 10_i64.pow(iso - stripe);
        if amount.0 % unit != 0 {
            return Err(format!("Stripe charges {code} in whole units only"));
        }
        amount.0 / unit
    };
    if THREE_DECIMAL.contains(&code) && stated % 10 != 0 {
        return Err(format!("Stripe charges {code} only in amounts whose last decimal is 0"));
    }
    Ok(stated)
}

/// Stripe's `amount` in `currency` as ISO minor units; None when it has no exact equivalent.
pub fn from_stripe(amount: i64, currency: Currency) -> Option<MinorUnits> {
    let (iso, stripe) = (currency.exponent(), stripe_decimals(currency));
    if stripe >= iso {
        let unit = 10_i64.pow(stripe - iso);
        (amount % unit == 0).then(|| MinorUnits(amount / unit))
    } else {
        amount.checked_mul(10_i64.pow(iso - stripe)).map(MinorUnits)
    }
}

/// Why Stripe could not charge `link`'s fixed amounts, donation presets or custom donation
/// bounds, by field; empty when it can. (A donor's own amount is checked when the donation
/// is made.)
pub fn uncharged_amounts(checkout: &crate::model::Checkout) -> Vec<String> {
    use crate::model::Cart;
    let currency = checkout.currency;
    let refusal =
        |field: &str, amount: MinorUnits| to_stripe_charge(amount, currency).err().map(|why| format!("{field}: {why}"));
    match &checkout.cart {
        Cart::Amount { amount } => refusal("amount", *amount).into_iter().collect(),
        Cart::Items { total, .. } | Cart::ItemsOnLink { total } => refusal("items", *total).into_iter().collect(),
        Cart::Donation { donation } => {
            let presets = donation.presets.iter().enumerate();
            let mut refused: Vec<String> =
                presets.filter_map(|(n, preset)| refusal(&format!("donationConfig.presets[{n}]"), *preset)).collect();
            refused.extend(donation.default_amount.and_then(|amount| refusal("donationConfig.defaultAmount", amount)));
            if donation.allow_custom_amount {
                refused.extend(donation.min_amount.and_then(|amount| refusal("donationConfig.minAmount", amount)));
                // A bound, not a charge: only Stripe's smallest charge matters to it.
                let max_under = donation.max_amount.and_then(|max| under_smallest_charge(max, currency));
                refused.extend(max_under.map(|why| format!("donationConfig.maxAmount: {why}")));
            }
            refused
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        code.parse().unwrap()
    }

    #[test]
    fn stripe_states_amounts_in_its_own_decimals_and_back() {
        // (ISO minor units, currency, Stripe's amount): 50.00 USD, 500 JPY, 500 ISK (ISO has no
        // decimals, Stripe two), 10.00 MGA (Stripe has none), 1.230 KWD.
        for (minor, code, stated) in
            [(5000, "USD", 5000), (500, "JPY", 500), (500, "ISK", 50_000), (1000, "MGA", 10), (1230, "KWD", 1230)]
        {
            assert_eq!(to_stripe(MinorUnits(minor), currency(code)), Ok(stated), "{code}");
            assert_eq!(from_stripe(stated, currency(code)), Some(MinorUnits(minor)), "{code}");
        }
    }

    #[test]
    fn amounts_stripe_cannot_charge_exactly_are_refused_not_rounded() {
        let refused = to_stripe(MinorUnits(1050), currency("MGA")).unwrap_err();
        assert!(refused.contains("MGA") && refused.contains("whole units"), "{refused}");
        let refused = to_stripe(MinorUnits(1234), currency("KWD")).unwrap_err();
        assert!(refused.contains("KWD") && refused.contains("last decimal is 0"), "{refused}");
        assert_eq!(from_stripe(50_050, currency("ISK")), None, "fractional krónur have no ISO amount");
    }

    #[test]
    fn amounts_under_stripes_smallest_charge_are_refused_and_its_smallest_is_taken() {
        for (code, under, smallest) in [("USD", 49, 50), ("GBP", 29, 30), ("JPY", 49, 50), ("HUF", 17_499, 17_500)] {
            let refused = to_stripe_charge(MinorUnits(under), currency(code)).unwrap_err();
            let stated = MinorUnits(smallest).to_decimal_string(currency(code));
            assert_eq!(refused, format!("Stripe's smallest charge in {code} is {stated}"));
            assert!(to_stripe_charge(MinorUnits(smallest), currency(code)).is_ok(), "{code}");
        }
        // A currency Stripe lists no minimum for is only checked for exactness.
        assert_eq!(to_stripe_charge(MinorUnits(1), currency("ISK")), Ok(100));
        assert!(to_stripe_charge(MinorUnits(1050), currency("MGA")).unwrap_err().contains("whole units"));
    }
}
