//! Stripe's webhooks: checking `Stripe-Signature` and reading the events we act on.
//!
//! The signature, as Stripe documents it (<https://docs.stripe.com/webhooks#verify-manually>):
//! the header is `t=<unix seconds>,v1=<hex>[,v1=<hex>…]` (several `v1` while a secret is being
//! rolled), each `v1` the HMAC-SHA256 of `"{t}.{body}"` under the endpoint's signing secret.
//! A timestamp more than five minutes from now is refused, so a captured delivery cannot be
//! replayed later.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;

/// How far a signature's timestamp may be from now, Stripe's default tolerance.
pub const TOLERANCE_SECONDS: i64 = 300;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("Stripe-Signature header is missing or has no t= and v1= parts")]
    Malformed,
    #[error("Stripe-Signature timestamp is more than 5 minutes from now")]
    OutsideTolerance,
    #[error("no v1 signature in Stripe-Signature matches the body")]
    NoMatch,
}

/// Checks that `body` was signed by Stripe with `secret` within the tolerance of `now`.
pub fn verify(header: &str, body: &[u8], secret: &SecretString, now: DateTime<Utc>) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.extend(hex::decode(value).ok()),
            _ => {}
        }
    }
    let (Some(timestamp), false) = (timestamp, signatures.is_empty()) else { return Err(SignatureError::Malformed) };
    // Any i64 may arrive: the distance saturates rather than overflows.
    if now.timestamp().saturating_sub(timestamp).saturating_abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::OutsideTolerance);
    }
    let signed = |signature: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()).expect("HMAC takes any key");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        // `verify_slice` compares in constant time.
        mac.verify_slice(signature).is_ok()
    };
    if signatures.iter().any(|signature| signed(signature)) { Ok(()) } else { Err(SignatureError::NoMatch) }
}

/// The parts of an Event we read (<https://docs.stripe.com/api/events/object>).
#[derive(Debug, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The connected account the event happened on (Connect), if any.
    #[serde(default)]
    pub account: Option<String>,
    pub data: EventData,
}

#[derive(Debug, Deserialize)]
pub struct EventData {
    pub object: EventObject,
}

/// A PaymentIntent (`payment_intent.*` events) or a Charge (`charge.*`): its id and, for a
/// Charge, its PaymentIntent.
#[derive(Debug, Deserialize)]
pub struct EventObject {
    pub id: String,
    #[serde(default)]
    pub payment_intent: Option<String>,
    /// A Charge: refunded in full (a partial refund leaves it false).
    #[serde(default)]
    pub refunded: bool,
}

impl Event {
    /// The PaymentIntent an event is about, for the events we act on.
    pub fn payment_intent(&self) -> Option<&str> {
        match self.kind.as_str() {
            "payment_intent.succeeded" | "payment_intent.payment_failed" => Some(&self.data.object.id),
            "charge.refunded" => self.data.object.payment_intent.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, timestamp: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.{body}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn at(timestamp: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(timestamp, 0).unwrap()
    }

    const BODY: &str = r#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}"#;
    const T: i64 = 1_767_225_600;

    #[test]
    fn a_signature_made_with_the_secret_passes_and_any_other_fails() {
        let secret = SecretString::from("whsec_test");
        let good = sign("whsec_test", T, BODY);
        assert_eq!(verify(&format!("t={T},v1={good}"), BODY.as_bytes(), &secret, at(T + 10)), Ok(()));
        let other = sign("whsec_other", T, BODY);
        assert_eq!(verify(&format!("t={T},v1={other}"), BODY.as_bytes(), &secret, at(T)), Err(SignatureError::NoMatch));
        let tampered = BODY.replace("pi_1", "pi_2");
        assert_eq!(
            verify(&format!("t={T},v1={good}"), tampered.as_bytes(), &secret, at(T)),
            Err(SignatureError::NoMatch)
        );
        // The timestamp is signed too: moving it breaks the signature.
        assert_eq!(
            verify(&format!("t={},v1={good}", T + 1), BODY.as_bytes(), &secret, at(T)),
            Err(SignatureError::NoMatch)
        );
    }

    #[test]
    fn while_a_secret_rolls_any_of_several_v1_values_may_match() {
        let secret = SecretString::from("whsec_new");
        let header = format!("t={T},v1={},v1={},v0=abc", sign("whsec_old", T, BODY), sign("whsec_new", T, BODY));
        assert_eq!(verify(&header, BODY.as_bytes(), &secret, at(T)), Ok(()));
    }

    #[test]
    fn old_or_future_timestamps_and_malformed_headers_are_refused() {
        let secret = SecretString::from("whsec_test");
        let good = sign("whsec_test", T, BODY);
        let header = format!("t={T},v1={good}");
        assert_eq!(verify(&header, BODY.as_bytes(), &secret, at(T + 301)), Err(SignatureError::OutsideTolerance));
        assert_eq!(verify(&header, BODY.as_bytes(), &secret, at(T - 301)), Err(SignatureError::OutsideTolerance));
        assert_eq!(verify(&header, BODY.as_bytes(), &secret, at(T + 300)), Ok(()));
        // The most distant timestamps an i64 holds are refused, not an overflow.
        for extreme in [i64::MIN, i64::MAX] {
            let header = format!("t={extreme},v1={good}");
            assert_eq!(verify(&header, BODY.as_bytes(), &secret, at(T)), Err(SignatureError::OutsideTolerance));
        }
        for malformed in ["", "t=abc,v1=00", &format!("t={T}"), &format!("v1={good}"), &format!("t={T},v1=not-hex")] {
            assert_eq!(
                verify(malformed, BODY.as_bytes(), &secret, at(T)),
                Err(SignatureError::Malformed),
                "{malformed}"
            );
        }
    }

    #[test]
    fn events_name_the_payment_intent_they_are_about() {
        let event: Event = serde_json::from_str(BODY).unwrap();
        assert_eq!(event.payment_intent(), Some("pi_1"));
        let refunded = r#"{"id":"evt_2","type":"charge.refunded","account":"acct_1","data":{"object":{"id":"ch_1","payment_intent":"pi_9"}}}"#;
        let event: Event = serde_json::from_str(refunded).unwrap();
        assert_eq!((event.payment_intent(), event.account.as_deref()), (Some("pi_9"), Some("acct_1")));
        let other = r#"{"id":"evt_3","type":"customer.created","data":{"object":{"id":"cus_1"}}}"#;
        assert_eq!(serde_json::from_str::<Event>(other).unwrap().payment_intent(), None);
    }
}
