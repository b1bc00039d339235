//! The Stripe processor: PaymentIntents confirmed by the server with a card Stripe.js tokenized
//! in the customer's browser, so no card number or CVC ever reaches us (PCI SAQ A).
//!
//! One attempt of a session is one PaymentIntent, created under the attempt's idempotency key
//! with parameters fixed by the attempt (amount, currency, metadata): replaying the key gives
//! the same PaymentIntent back, which is how a retry after a timeout finds what the first try
//! did, and a PaymentIntent succeeds at most once, so an attempt charges at most once.
//!
//! The calls, each one the public API documents and localstripe (the tests' Stripe) accepts:
//! 1. `POST /v1/customers` with `source=tok_…` — attaches the tokenized card; a card that cannot
//!    be used is declined here (<https://docs.stripe.com/api/customers/create>);
//! 2. `POST /v1/payment_intents` — the attempt's PaymentIntent
//!    (<https://docs.stripe.com/api/payment_intents/create>);
//! 3. `POST /v1/payment_intents/{id}` with `customer` and `payment_method` = the attached card
//!    (a Card is a "compatible" payment method, <https://docs.stripe.com/api/payment_intents/update>);
//! 4. `POST /v1/payment_intents/{id}/confirm` — the charge, or `requires_action` for 3-D Secure
//!    (<https://docs.stripe.com/api/payment_intents/confirm>).

mod client;
pub mod webhook;

use async_trait::async_trait;
use secrecy::SecretString;
use serde::Deserialize;

pub use client::{StripeClient, StripeError};

use super::processor::{
    CardEntry, ChargeRequest, Charged, PaymentDetails, PaymentProcessor, ProcessorError, ProcessorPayment, StripeJs,
};
use super::stripe_amounts as amount;
use crate::model::{ChargeOutcome, ChargeRecord, DeclineReason};
use client::Param;

pub struct StripeProcessor {
    client: StripeClient,
    stripe_js: StripeJs,
}

impl StripeProcessor {
    /// `secret_key` is `STRIPE_SECRET_KEY` (on Lambda, read from SSM at init).
    pub fn new(stripe_js: StripeJs, secret_key: SecretString) -> Result<Self, String> {
        Ok(StripeProcessor { client: StripeClient::new(&stripe_js.api_base, secret_key)?, stripe_js })
    }

    /// The attempt's PaymentIntent: created by the first call, the same one on every replay. A
    /// replay answers with the PaymentIntent as it was created (Stripe stores the first answer
    /// to a key): its id is right, its status is not news; `current_intent_of` reads that.
    async fn intent_of(&self, request: &ChargeRequest<'_>) -> Result<PaymentIntent, StripeError> {
        let session = request.session;
        // An amount Stripe cannot state exactly is refused here, as Stripe would refuse it.
        let amount = amount::to_stripe(request.amount, request.currency).map_err(|message| StripeError::Refused {
            status: 400,
            kind: "amount".into(),
            code: None,
            message,
        })?;
        let mut params: Vec<Param> = vec![
            param("amount", amount.to_string()),
            param("currency", request.currency.code().to_ascii_lowercase()),
            // Cards only: nothing that would need a redirect back to a return_url.
            param("payment_method_types[]", "card"),
            param("metadata[paymentLinkId]", session.link_id.to_string()),
            param("metadata[sessionId]", session.id.to_string()),
            param("metadata[attempt]", request.attempt.to_string()),
        ];
        params.extend(merchant_metadata(&session.checkout.metadata));
        self.client.post("/v1/payment_intents", &params, &request.idempotency_key, account(request)).await
    }

    /// The attempt's PaymentIntent as it stands now: named by the keyed create, then read.
    async fn current_intent_of(&self, request: &ChargeRequest<'_>) -> Result<PaymentIntent, StripeError> {
        let created = self.intent_of(request).await?;
        self.read_intent(&created.id, account(request)).await
    }

    /// `current_intent_of`, for an attempt taken over or stopped: none when Stripe refuses the
    /// attempt's amount, for then it never made one and nothing was charged (the attempt can
    /// end, instead of every retry meeting the same refusal).
    async fn existing_intent_of(&self, request: &ChargeRequest<'_>) -> Result<Option<PaymentIntent>, ProcessorError> {
        match self.current_intent_of(request).await.map_err(processor_error) {
            Ok(intent) => Ok(Some(intent)),
            Err(ProcessorError::AmountRefused(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// https://docs.stripe.com/api/payment_intents/retrieve
    async fn read_intent(&self, id: &str, account: Option<&str>) -> Result<PaymentIntent, StripeError> {
        self.client.get(&format!("/v1/payment_intents/{id}"), &[], account).await
    }

    /// The card attached to a customer by `charge`, for its brand and last four.
    async fn card_of(&self, intent: &PaymentIntent, account: Option<&str>) -> Result<CardObject, StripeError> {
        let (Some(customer), Some(card)) = (&intent.customer, &intent.payment_method) else {
            return Ok(CardObject::default());
        };
        self.client.get(&format!("/v1/customers/{customer}/sources/{card}"), &[], account).await
    }

    /// Where `intent` stands, with its card when it succeeded.
    async fn charged(&self, intent: PaymentIntent, account: Option<&str>) -> Result<Charged, StripeError> {
        let outcome = match intent.status.as_str() {
            "succeeded" => {
                let card = self.card_of(&intent, account).await?;
                ChargeOutcome::Approved {
                    transaction_id: intent.id,
                    card_brand: card.brand,
                    card_last_four: card.last4,
                }
            }
            "requires_action" => {
                let client_secret = intent.client_secret.unwrap_or_default();
                return Ok(Charged::NeedsAuthentication { payment_id: intent.id, client_secret });
            }
            // Declined or authentication failed: the PaymentIntent waits for another card.
            "requires_payment_method" => {
                let error = intent.last_payment_error.unwrap_or_default();
                ChargeOutcome::Declined { reason: decline_reason(error.code.as_deref(), error.decline_code.as_deref()) }
            }
            // Not decided yet (cards rarely stay here): ask again later.
            "processing" => return Err(StripeError::Unreachable("payment intent still processing".into())),
            other => {
                return Err(StripeError::Refused {
                    status: 200,
                    kind: "unexpected_status".into(),
                    code: None,
                    message: format!("payment intent {} is {other}", intent.id),
                });
            }
        };
        Ok(Charged::Decided(outcome))
    }
}

#[async_trait]
impl PaymentProcessor for StripeProcessor {
    fn card_entry(&self) -> CardEntry {
        CardEntry::StripeJs(self.stripe_js.clone())
    }

    async fn charge(
        &self,
        request: &ChargeRequest<'_>,
        payment: PaymentDetails<'_>,
    ) -> Result<Charged, ProcessorError> {
        let PaymentDetails::StripeToken(token) = payment else {
            return Err(ProcessorError::Processing("Stripe takes cards tokenized by Stripe.js only".into()));
        };
        let key = &request.idempotency_key;
        let account = account(request);
        let attach = [
            param("source", token),
            param("expand[]", "sources"),
            param("metadata[sessionId]", request.session.id.to_string()),
        ];
        let customer: Customer =
            match self.client.post("/v1/customers", &attach, &format!("{key}:customer:{token}"), account).await {
                Err(error) => return declined_or(error),
                Ok(customer) => customer,
            };
        let Some(card) = customer.sources.data.into_iter().next() else {
            return Err(ProcessorError::Processing(format!("customer {} has no card", customer.id)));
        };
        let intent = self.intent_of(request).await.map_err(processor_error)?;
        let path = format!("/v1/payment_intents/{}", intent.id);
        let method = [param("customer", customer.id), param("payment_method", card.id)];
        let steps = async {
            self.client.post::<PaymentIntent>(&path, &method, &format!("{key}:method:{token}"), account).await?;
            self.client
                .post::<PaymentIntent>(&format!("{path}/confirm"), &[], &format!("{key}:confirm:{token}"), account)
                .await
        };
        match steps.await {
            Ok(intent) => self.charged(intent, account).await.map_err(processor_error),
            // Stripe refuses to change a PaymentIntent that has succeeded: an earlier try of this
            // attempt charged already and its answer was lost. Then that charge is the outcome.
            Err(refused @ StripeError::Refused { .. }) => match self.read_intent(&intent.id, account).await {
                Ok(current) if current.status == "succeeded" => {
                    self.charged(current, account).await.map_err(processor_error)
                }
                _ => Err(processor_error(refused)),
            },
            Err(error) => declined_or(error),
        }
    }

    async fn void(&self, request: &ChargeRequest<'_>, transaction_id: &str) -> Result<(), ProcessorError> {
        // https://docs.stripe.com/api/refunds/create
        let params = [param("payment_intent", transaction_id), param("metadata[reason]", "usage_limit_reached")];
        let key = format!("{}:refund", request.idempotency_key);
        let _: serde_json::Value =
            self.client.post("/v1/refunds", &params, &key, account(request)).await.map_err(processor_error)?;
        Ok(())
    }

    async fn lookup(&self, request: &ChargeRequest<'_>) -> Result<Option<ChargeRecord>, ProcessorError> {
        let Some(intent) = self.existing_intent_of(request).await? else { return Ok(None) };
        // Not charged (yet): the retry charges this same PaymentIntent.
        self.record_if_succeeded(request, intent).await
    }

    /// A PaymentIntent not charged yet can still succeed: 3-D Secure finishing in a tab the
    /// customer left open, long after the attempt lapsed. Cancelling it at Stripe first makes a
    /// cancelled session final; Stripe refuses to cancel one that has succeeded meanwhile, and
    /// then that charge is what the attempt did.
    async fn stop(&self, request: &ChargeRequest<'_>) -> Result<Option<ChargeRecord>, ProcessorError> {
        let Some(intent) = self.existing_intent_of(request).await? else { return Ok(None) };
        if intent.is_final() {
            return self.record_if_succeeded(request, intent).await;
        }
        // https://docs.stripe.com/api/payment_intents/cancel
        let path = format!("/v1/payment_intents/{}/cancel", intent.id);
        let key = format!("{}:cancel", request.idempotency_key);
        match self.client.post::<PaymentIntent>(&path, &[], &key, account(request)).await {
            Ok(_) => Ok(None),
            Err(StripeError::Refused { .. }) => {
                let current = self.read_intent(&intent.id, account(request)).await.map_err(processor_error)?;
                if !current.is_final() {
                    let (id, status) = (&current.id, &current.status);
                    let refused = format!("payment intent {id} is {status} and could not be cancelled");
                    return Err(ProcessorError::Processing(refused));
                }
                self.record_if_succeeded(request, current).await
            }
            Err(error) => Err(processor_error(error)),
        }
    }

    async fn payment(&self, payment_id: &str, account: Option<&str>) -> Result<ProcessorPayment, ProcessorError> {
        let intent = self.read_intent(payment_id, account).await.map_err(processor_error)?;
        let session_id = intent.metadata.session_id.clone().unwrap_or_default();
        let attempt = intent.metadata.attempt.as_deref().and_then(|a| a.parse().ok()).unwrap_or_default();
        let amount = intent.currency.parse().ok().and_then(|currency| amount::from_stripe(intent.amount, currency));
        let Some(amount) = amount else {
            let stated = format!("{} {}", intent.amount, intent.currency);
            return Err(ProcessorError::Processing(format!("payment intent {payment_id} is for {stated}")));
        };
        let charged = self.charged(intent, account).await.map_err(processor_error)?;
        Ok(ProcessorPayment { session_id, attempt, amount, charged })
    }
}

impl StripeProcessor {
    /// `intent` as the attempt's charge record when it has succeeded.
    async fn record_if_succeeded(
        &self,
        request: &ChargeRequest<'_>,
        intent: PaymentIntent,
    ) -> Result<Option<ChargeRecord>, ProcessorError> {
        if intent.status != "succeeded" {
            return Ok(None);
        }
        let Some(amount) = amount::from_stripe(intent.amount, request.currency) else {
            return Err(ProcessorError::Processing(format!("payment intent {} amount {}", intent.id, intent.amount)));
        };
        match self.charged(intent, account(request)).await.map_err(processor_error)? {
            Charged::Decided(outcome @ ChargeOutcome::Approved { .. }) => Ok(Some(ChargeRecord {
                idempotency_key: request.idempotency_key.clone(),
                amount,
                currency: request.currency,
                outcome,
                voided: false,
                created_at: chrono::Utc::now(),
            })),
            _ => Ok(None),
        }
    }
}

fn account<'a>(request: &ChargeRequest<'a>) -> Option<&'a str> {
    request.session.checkout.stripe_account.as_deref()
}

fn param(name: &str, value: impl Into<String>) -> Param {
    (name.to_owned(), value.into())
}

/// The merchant's metadata as Stripe metadata: string values as they are, others as JSON. Stripe
/// takes at most 50 keys of up to 40 characters with values of up to 500
/// (<https://docs.stripe.com/metadata>): entries beyond its limits stay with us (the session
/// API shows them all) rather than failing the payment.
fn merchant_metadata(metadata_json: &str) -> Vec<Param> {
    const OUR_KEYS: usize = 3;
    let Ok(serde_json::Value::Object(entries)) = serde_json::from_str::<serde_json::Value>(metadata_json) else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter(|(key, _)| !["paymentLinkId", "sessionId", "attempt"].contains(&key.as_str()))
        .map(|(key, value)| match value {
            serde_json::Value::String(text) => (key, text),
            other => (key, other.to_string()),
        })
        .filter(|(key, value)| key.chars().count() <= 40 && value.chars().count() <= 500 && !key.contains(['[', ']']))
        .take(50 - OUR_KEYS)
        .map(|(key, value)| (format!("metadata[{key}]"), value))
        .collect()
}

/// A card error is the customer's decline; anything else is the processor's problem.
fn declined_or(error: StripeError) -> Result<Charged, ProcessorError> {
    match error {
        StripeError::Card { code, decline_code } => Ok(Charged::Decided(ChargeOutcome::Declined {
            reason: decline_reason(code.as_deref(), decline_code.as_deref()),
        })),
        other => Err(processor_error(other)),
    }
}

fn processor_error(error: StripeError) -> ProcessorError {
    match error {
        StripeError::Unreachable(detail) => ProcessorError::Unavailable(detail),
        // https://docs.stripe.com/error-codes#amount-too-small: under Stripe's smallest charge
        // once converted to the settlement currency (or over its largest).
        StripeError::Refused { ref code, .. }
            if matches!(code.as_deref(), Some("amount_too_small" | "amount_too_large")) =>
        {
            ProcessorError::AmountRefused(error.to_string())
        }
        other => ProcessorError::Processing(other.to_string()),
    }
}

/// Stripe's decline codes (<https://docs.stripe.com/declines/codes>) and error codes
/// (<https://docs.stripe.com/error-codes>) as what we tell the customer.
fn decline_reason(code: Option<&str>, decline_code: Option<&str>) -> DeclineReason {
    match (code, decline_code) {
        (_, Some("insufficient_funds")) => DeclineReason::InsufficientFunds,
        (Some("expired_card"), _) | (_, Some("expired_card")) => DeclineReason::ExpiredCard,
        (Some("incorrect_cvc" | "invalid_cvc"), _) | (_, Some("incorrect_cvc" | "invalid_cvc")) => {
            DeclineReason::IncorrectCvc
        }
        (Some("payment_intent_authentication_failure"), _) => DeclineReason::AuthenticationFailed,
        _ => DeclineReason::Declined,
    }
}

#[derive(Deserialize)]
struct Customer {
    id: String,
    sources: CardList,
}

#[derive(Deserialize)]
struct CardList {
    data: Vec<CardObject>,
}

/// A Card object (<https://docs.stripe.com/api/cards/object>): `brand` is "Visa", "American
/// Express"….
#[derive(Deserialize, Default)]
struct CardObject {
    #[serde(default)]
    id: String,
    #[serde(default)]
    brand: String,
    #[serde(default)]
    last4: String,
}

/// The fields of a PaymentIntent we read (<https://docs.stripe.com/api/payment_intents/object>).
#[derive(Deserialize)]
struct PaymentIntent {
    id: String,
    status: String,
    amount: i64,
    /// Lowercase ISO code: `usd`.
    currency: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    customer: Option<String>,
    #[serde(default)]
    payment_method: Option<String>,
    #[serde(default)]
    metadata: IntentMetadata,
    #[serde(default)]
    last_payment_error: Option<PaymentError>,
}

impl PaymentIntent {
    /// Succeeded or cancelled: nothing can change it any more.
    fn is_final(&self) -> bool {
        ["succeeded", "canceled"].contains(&self.status.as_str())
    }
}

#[derive(Deserialize, Default)]
struct IntentMetadata {
    #[serde(default, rename = "sessionId")]
    session_id: Option<String>,
    #[serde(default)]
    attempt: Option<String>,
}

#[derive(Deserialize, Default)]
struct PaymentError {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
}

#[cfg(test)]
mod tests;
