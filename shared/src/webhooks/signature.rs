//! Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `"{webhook-id}.{webhook-timestamp}.{body}"`, keyed with the bytes of the secret
//! (`whsec_` + base64). The same scheme Svix and the `standardwebhooks` libraries verify.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// A new endpoint secret: `whsec_` + base64 of 24 random bytes.
pub fn new_secret() -> String {
    let mut key = [0u8; 24];
    rand::rng().fill_bytes(&mut key);
    format!("{PREFIX}{}", STANDARD.encode(key))
}

/// The `webhook-signature` value for one delivery signed with each of `secrets` (during a
/// rotation, two): space-separated `v1,…` signatures, any of which a receiver may match.
pub fn sign_all(secrets: &[&str], message_id: &str, timestamp: i64, body: &str) -> String {
    secrets.iter().map(|secret| sign(secret, message_id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// One `v1,…` signature of a delivery.
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &str) -> String {
    let encoded = secret.strip_prefix(PREFIX).unwrap_or(secret);
    // Our secrets always decode; a secret that did not would still key an HMAC by its text.
    let key = STANDARD.decode(encoded).unwrap_or_else(|_| encoded.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(format!("{message_id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        // The vector the Standard Webhooks libraries test against (checked with the PyPI
        // `standardwebhooks` 1.1.0 `Webhook.sign`).
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn new_secrets_are_random_whsec_keys_of_24_bytes() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(STANDARD.decode(a.strip_prefix(PREFIX).unwrap()).unwrap().len(), 24);
    }
}
