//! A small typed client for the few Stripe API calls the processor makes, on reqwest (hyper and
//! rustls, which the AWS SDK links already). Form-encoded requests, the secret key as a bearer
//! token, a pinned API version, an `Idempotency-Key` on every POST, `Stripe-Account` for a
//! Connect merchant. Errors are classified the way the pay flow decides on them.
//!
//! Reference: <https://docs.stripe.com/api> (authentication, errors, idempotent requests,
//! versioning, connected accounts).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The API version every request asks for, so the shapes below never change under us when the
/// account's default version moves.
pub const API_VERSION: &str = "2024-06-20";

/// Under the Lambda timeout (10 s) with room to answer: a Stripe call that takes longer is
/// treated as unreachable, and the retry reuses the attempt's idempotency key.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a Stripe call did not give the object asked for.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// The card was declined (HTTP 402, `type: card_error`): the customer can try another card.
    #[error("card error: {code:?} / {decline_code:?}")]
    Card { code: Option<String>, decline_code: Option<String> },
    /// Stripe could not be reached or is overloaded (timeout, connection error, 5xx, 429):
    /// nothing is known about the outcome; retrying with the same idempotency key is safe.
    #[error("stripe unreachable: {0}")]
    Unreachable(String),
    /// Stripe refused the request (any other 4xx): a bug or a misconfiguration, not the
    /// customer's to fix. `message` is Stripe's, for the log.
    #[error("stripe refused the request ({status}, {kind}, {code:?}): {message}")]
    Refused { status: u16, kind: String, code: Option<String>, message: String },
}

impl StripeError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, StripeError::Refused { status: 404, .. })
    }
}

/// Stripe's error body: `{"error": {"type", "code", "decline_code", "message"}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize, Default)]
struct ErrorDetail {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// One of Stripe's form parameters: `("metadata[sessionId]", "cs_…")`.
pub type Param = (String, String);

pub struct StripeClient {
    http: reqwest::Client,
    api_base: String,
    secret_key: SecretString,
}

impl StripeClient {
    pub fn new(api_base: &str, secret_key: SecretString) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| format!("Stripe HTTP client: {e}"))?;
        Ok(StripeClient { http, api_base: api_base.trim_end_matches('/').to_owned(), secret_key })
    }

    /// `POST {path}` with `params`, deduplicated by Stripe under `idempotency_key`.
    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        params: &[Param],
        idempotency_key: &str,
        account: Option<&str>,
    ) -> Result<T, StripeError> {
        let request = self
            .http
            .post(format!("{}{path}", self.api_base))
            .header("Idempotency-Key", idempotency_key)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(encode(params));
        self.send(request, account).await
    }

    /// `GET {path}?{query}`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[Param],
        account: Option<&str>,
    ) -> Result<T, StripeError> {
        let url = match query.is_empty() {
            true => format!("{}{path}", self.api_base),
            false => format!("{}{path}?{}", self.api_base, encode(query)),
        };
        self.send(self.http.get(url), account).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        account: Option<&str>,
    ) -> Result<T, StripeError> {
        let mut request = request.bearer_auth(self.secret_key.expose_secret()).header("Stripe-Version", API_VERSION);
        if let Some(account) = account {
            request = request.header("Stripe-Account", account);
        }
        // reqwest's errors name the URL, never a header: no key reaches the log through them.
        let response = request.send().await.map_err(|e| StripeError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| StripeError::Unreachable(e.to_string()))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| StripeError::Refused {
                status: status.as_u16(),
                kind: "decode".into(),
                code: None,
                message: e.to_string(),
            });
        }
        Err(classify(status.as_u16(), &body))
    }
}

/// An error answer, by Stripe's documented rules: 402 and `card_error` are declines; 429 and
/// 5xx are worth retrying with the same key; the rest are refusals.
fn classify(status: u16, body: &[u8]) -> StripeError {
    let detail = serde_json::from_slice::<ErrorBody>(body).map(|b| b.error).unwrap_or_default();
    let kind = detail.kind.unwrap_or_default();
    if status == 402 || kind == "card_error" {
        return StripeError::Card { code: detail.code, decline_code: detail.decline_code };
    }
    if status == 429 || status >= 500 {
        return StripeError::Unreachable(format!("HTTP {status} {kind}"));
    }
    StripeError::Refused { status, kind, code: detail.code, message: detail.message.unwrap_or_default() }
}

fn encode(params: &[Param]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Error bodies as Stripe documents them (https://docs.stripe.com/api/errors).
    #[test]
    fn a_decline_keeps_its_decline_code() {
        let body = br#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}"#;
        match classify(402, body) {
            StripeError::Card { code, decline_code } => {
                assert_eq!(code.as_deref(), Some("card_declined"));
                assert_eq!(decline_code.as_deref(), Some("insufficient_funds"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rate_limits_and_server_errors_are_unreachable_and_the_rest_refused() {
        let rate = br#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}"#;
        assert!(matches!(classify(429, rate), StripeError::Unreachable(_)));
        assert!(matches!(classify(500, b"<html>oops</html>"), StripeError::Unreachable(_)));
        assert!(matches!(classify(503, b""), StripeError::Unreachable(_)));
        let idempotency = br#"{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}"#;
        match classify(400, idempotency) {
            StripeError::Refused { status, kind, .. } => {
                assert_eq!((status, kind.as_str()), (400, "idempotency_error"))
            }
            other => panic!("{other:?}"),
        }
        let missing = br#"{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such payment_intent"}}"#;
        assert!(classify(404, missing).is_not_found());
    }

    #[test]
    fn parameters_are_form_encoded() {
        let params =
            vec![("metadata[note]".to_owned(), "a&b=c é".to_owned()), ("expand[]".to_owned(), "sources".to_owned())];
        assert_eq!(encode(&params), "metadata%5Bnote%5D=a%26b%3Dc+%C3%A9&expand%5B%5D=sources");
    }
}
