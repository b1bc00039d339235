//! Payment processors. The built-in `sandbox` is test mode, like every provider's: a handful
//! of test cards with known outcomes, and any other number refused, so no real card data is
//! ever taken. `stripe` (feature `stripe`) takes real cards, tokenized by Stripe.js in the
//! customer's browser.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;

use super::card::Card;
use crate::model::{ChargeOutcome, ChargeRecord, CheckoutSession, DeclineReason, PaymentAttempt};
use crate::money::{Currency, MinorUnits};
use crate::store::{ChargeLedger, StoreError};

/// One attempt's charge, sent with a key derived from the attempt: the same key always gets
/// the same outcome, so a retried pay can never charge twice.
pub struct ChargeRequest<'a> {
    pub idempotency_key: String,
    pub amount: MinorUnits,
    pub currency: Currency,
    /// The session paid for (its link, its merchant's metadata and Stripe account).
    pub session: &'a CheckoutSession,
    pub attempt: u32,
}

impl<'a> ChargeRequest<'a> {
    /// The charge of `attempt` of `session`: the amount is the attempt's, fixed when it began.
    pub fn of(session: &'a CheckoutSession, attempt: &PaymentAttempt) -> Self {
        ChargeRequest {
            idempotency_key: attempt.idempotency_key(&session.id),
            amount: attempt.amount,
            currency: session.checkout.currency,
            session,
            attempt: attempt.number,
        }
    }
}

/// How the card reaches the processor: which one a processor takes is its `card_entry`.
#[derive(Clone, Copy)]
pub enum PaymentDetails<'a> {
    /// The sandbox's own form: the card as typed (test cards only).
    Card(&'a Card),
    /// A Stripe.js card token (`tok_…`): the card itself never reached us.
    StripeToken(&'a str),
}

/// Where the customer types the card: `PAYLINKS_PROCESSOR` and the public Stripe settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CardEntry {
    /// Our own form fields, posted to us (the sandbox: test cards only).
    #[default]
    Form,
    /// Stripe's card field, mounted by Stripe.js; the form posts a token instead.
    StripeJs(StripeJs),
}

/// What the page needs to load Stripe.js (all public values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeJs {
    /// `STRIPE_PUBLISHABLE_KEY`: `pk_test_…` or `pk_live_…`.
    pub publishable_key: String,
    /// `STRIPE_JS_URL`, default `https://js.stripe.com/v3/`.
    pub js_url: String,
    /// `STRIPE_API_BASE`, default `https://api.stripe.com`: where Stripe.js sends the card.
    pub api_base: String,
}

impl StripeJs {
    pub const DEFAULT_JS_URL: &str = "https://js.stripe.com/v3/";
    pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

    /// Test keys take only Stripe's test cards: the page says so.
    pub fn is_test_mode(&self) -> bool {
        self.publishable_key.starts_with("pk_test_")
    }
}

impl CardEntry {
    /// From `PAYLINKS_PROCESSOR` (`sandbox`, the default, or `stripe`) and, for Stripe,
    /// `STRIPE_PUBLISHABLE_KEY`, `STRIPE_JS_URL` and `STRIPE_API_BASE`.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<CardEntry, String> {
        match env("PAYLINKS_PROCESSOR").as_deref().map(str::trim) {
            None | Some("sandbox") => Ok(CardEntry::Form),
            Some("stripe") => {
                let publishable_key = env("STRIPE_PUBLISHABLE_KEY")
                    .filter(|key| key.starts_with("pk_"))
                    .ok_or("PAYLINKS_PROCESSOR=stripe needs STRIPE_PUBLISHABLE_KEY (pk_test_… or pk_live_…)")?;
                let url = |name: &str, default: &str| -> Result<String, String> {
                    let value = env(name).unwrap_or_else(|| default.to_owned());
                    match url::Url::parse(&value) {
                        Ok(url) if ["https", "http"].contains(&url.scheme()) => Ok(value),
                        _ => Err(format!("{name} must be an http(s) URL, got {value:?}")),
                    }
                };
                let js_url = url("STRIPE_JS_URL", StripeJs::DEFAULT_JS_URL)?;
                let api_base = url("STRIPE_API_BASE", StripeJs::DEFAULT_API_BASE)?;
                Ok(CardEntry::StripeJs(StripeJs { publishable_key, js_url, api_base }))
            }
            Some(other) => Err(format!("PAYLINKS_PROCESSOR must be sandbox or stripe, got {other:?}")),
        }
    }

    /// The processor's name, as `serve` prints it.
    pub fn processor_name(&self) -> &'static str {
        match self {
            CardEntry::Form => "sandbox (test cards only)",
            CardEntry::StripeJs(stripe) if stripe.is_test_mode() => "stripe (test mode)",
            CardEntry::StripeJs(_) => "stripe (live)",
        }
    }
}

/// What a charge came to: decided, or waiting for the customer to authenticate with the bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Charged {
    Decided(ChargeOutcome),
    /// 3-D Secure: the page runs Stripe.js's authentication with `client_secret`, then posts
    /// `payment_id` back (and Stripe's webhook reports the result even if it never does).
    NeedsAuthentication {
        payment_id: String,
        client_secret: String,
    },
}

/// A charge looked up by the processor's own id (after 3-D Secure, or from a webhook): whose
/// it is, by the metadata we gave it, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorPayment {
    pub session_id: String,
    pub attempt: u32,
    pub amount: MinorUnits,
    pub charged: Charged,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// The processor failed the charge for reasons the customer cannot fix.
    #[error("processing error: {0}")]
    Processing(String),
    /// The processor (or its record keeping) could not be reached; nothing is known to be charged.
    #[error("processor unavailable: {0}")]
    Unavailable(String),
    /// The processor takes no charge of this amount (under its smallest or over its largest,
    /// in the merchant's settlement currency): nothing was charged.
    #[error("amount refused: {0}")]
    AmountRefused(String),
}

impl From<StoreError> for ProcessorError {
    fn from(error: StoreError) -> Self {
        ProcessorError::Unavailable(error.to_string())
    }
}

#[async_trait]
pub trait PaymentProcessor: Send + Sync {
    /// How the checkout page takes the card for this processor.
    fn card_entry(&self) -> CardEntry;
    /// Charges the card, or returns the outcome already recorded under the same key.
    async fn charge(&self, request: &ChargeRequest<'_>, payment: PaymentDetails<'_>)
    -> Result<Charged, ProcessorError>;
    /// Gives back an approved charge (used when a use could not be committed after charging).
    async fn void(&self, request: &ChargeRequest<'_>, transaction_id: &str) -> Result<(), ProcessorError>;
    /// What the processor recorded for this attempt, if anything: how a retry learns the
    /// outcome of a charge whose process died before it could act on it.
    async fn lookup(&self, request: &ChargeRequest<'_>) -> Result<Option<ChargeRecord>, ProcessorError>;
    /// What the processor recorded for this attempt (as `lookup`), having made sure it can
    /// charge nothing more: the customer cancels a session whose attempt lapsed. Where a charge
    /// is decided within the call that made it (the sandbox), the attempt's dead process can
    /// charge nothing later and this is `lookup`.
    async fn stop(&self, request: &ChargeRequest<'_>) -> Result<Option<ChargeRecord>, ProcessorError> {
        self.lookup(request).await
    }
    /// The charge the processor knows as `payment_id` (made for a session of a merchant with
    /// this Stripe `account`), after the customer authenticated or when a webhook reports it.
    async fn payment(&self, payment_id: &str, account: Option<&str>) -> Result<ProcessorPayment, ProcessorError>;
}

/// Test-mode processor: outcomes by card number, idempotency records in the service's store.
pub struct SandboxProcessor {
    ledger: Arc<dyn ChargeLedger>,
}

pub const TEST_CARD_SUCCESS: &str = "4242424242424242";
/// American Express succeeds too: its CVC has four digits.
pub const TEST_CARD_AMEX_SUCCESS: &str = "378282246310005";
pub const TEST_CARD_DECLINED: &str = "4000000000000002";
pub const TEST_CARD_INSUFFICIENT_FUNDS: &str = "4000000000009995";
pub const TEST_CARD_PROCESSING_ERROR: &str = "4000000000000119";

impl SandboxProcessor {
    pub fn new(ledger: Arc<dyn ChargeLedger>) -> Self {
        SandboxProcessor { ledger }
    }
}

#[async_trait]
impl PaymentProcessor for SandboxProcessor {
    fn card_entry(&self) -> CardEntry {
        CardEntry::Form
    }

    async fn charge(
        &self,
        request: &ChargeRequest<'_>,
        payment: PaymentDetails<'_>,
    ) -> Result<Charged, ProcessorError> {
        let PaymentDetails::Card(card) = payment else {
            return Err(ProcessorError::Processing("the sandbox takes test cards typed into its own form".into()));
        };
        let outcome = match card.number() {
            TEST_CARD_SUCCESS | TEST_CARD_AMEX_SUCCESS => ChargeOutcome::Approved {
                transaction_id: format!("txn_{}", ulid::Ulid::new()),
                card_brand: card.brand.to_owned(),
                card_last_four: card.last_four.clone(),
            },
            TEST_CARD_DECLINED => ChargeOutcome::Declined { reason: DeclineReason::Declined },
            TEST_CARD_INSUFFICIENT_FUNDS => ChargeOutcome::Declined { reason: DeclineReason::InsufficientFunds },
            TEST_CARD_PROCESSING_ERROR => {
                return Err(ProcessorError::Processing("sandbox processing error card".into()));
            }
            _ => ChargeOutcome::Declined { reason: DeclineReason::NotATestCard },
        };
        let record = ChargeRecord {
            idempotency_key: request.idempotency_key.clone(),
            amount: request.amount,
            currency: request.currency,
            outcome,
            voided: false,
            created_at: Utc::now(),
        };
        // The first record under a key wins; a retry gets the original outcome back.
        let recorded = self.ledger.record_charge(&record).await?;
        Ok(Charged::Decided(recorded.outcome))
    }

    async fn void(&self, request: &ChargeRequest<'_>, _: &str) -> Result<(), ProcessorError> {
        self.ledger.void_charge(&request.idempotency_key).await?;
        Ok(())
    }

    async fn lookup(&self, request: &ChargeRequest<'_>) -> Result<Option<ChargeRecord>, ProcessorError> {
        Ok(self.ledger.get_charge(&request.idempotency_key).await?)
    }

    async fn payment(&self, payment_id: &str, _: Option<&str>) -> Result<ProcessorPayment, ProcessorError> {
        Err(ProcessorError::Processing(format!("the sandbox never asks for authentication ({payment_id})")))
    }
}

/// The sandbox with a processor's worst day injected, for tests: the next `timeouts` charges
/// time out (`usize::MAX`: all of them), after the charge went through when `after_charging`
/// (the caller cannot know it did), else before; later charges are the sandbox's. It counts
/// the charges it was asked for. Made `gated`, every charge waits at a gate until `open`, so a
/// test can see how many submissions of a burst reach the processor before any has an answer.
#[cfg(test)]
pub(crate) struct InjectedProcessor {
    sandbox: SandboxProcessor,
    after_charging: bool,
    timeouts_left: std::sync::atomic::AtomicUsize,
    asked: std::sync::atomic::AtomicUsize,
    gate: Option<tokio::sync::watch::Sender<bool>>,
}

#[cfg(test)]
impl InjectedProcessor {
    pub(crate) fn new(ledger: Arc<dyn ChargeLedger>, timeouts: usize, after_charging: bool) -> Self {
        InjectedProcessor {
            sandbox: SandboxProcessor::new(ledger),
            after_charging,
            timeouts_left: timeouts.into(),
            asked: Default::default(),
            gate: None,
        }
    }

    /// The sandbox, every charge held at a closed gate.
    pub(crate) fn gated(ledger: Arc<dyn ChargeLedger>) -> Self {
        let (gate, _) = tokio::sync::watch::channel(false);
        InjectedProcessor { gate: Some(gate), ..InjectedProcessor::new(ledger, 0, false) }
    }

    /// Lets every charge, waiting or to come, through the gate.
    pub(crate) fn open(&self) {
        if let Some(gate) = &self.gate {
            gate.send_replace(true);
        }
    }

    /// Charges asked for so far, timed out or not (held at the gate or not).
    pub(crate) fn charges_asked(&self) -> usize {
        self.asked.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
#[async_trait]
impl PaymentProcessor for InjectedProcessor {
    fn card_entry(&self) -> CardEntry {
        CardEntry::Form
    }

    async fn charge(
        &self,
        request: &ChargeRequest<'_>,
        payment: PaymentDetails<'_>,
    ) -> Result<Charged, ProcessorError> {
        use std::sync::atomic::Ordering::SeqCst;
        let mut gate = self.gate.as_ref().map(tokio::sync::watch::Sender::subscribe);
        self.asked.fetch_add(1, SeqCst);
        if let Some(gate) = &mut gate {
            gate.wait_for(|open| *open).await.map_err(|_| ProcessorError::Unavailable("gate dropped".into()))?;
        }
        let times_out = self.timeouts_left.fetch_update(SeqCst, SeqCst, |left| left.checked_sub(1)).is_ok();
        if !times_out {
            return self.sandbox.charge(request, payment).await;
        }
        if self.after_charging {
            self.sandbox.charge(request, payment).await?;
        }
        Err(ProcessorError::Unavailable("injected: processor timed out".into()))
    }

    async fn void(&self, request: &ChargeRequest<'_>, transaction_id: &str) -> Result<(), ProcessorError> {
        self.sandbox.void(request, transaction_id).await
    }

    async fn lookup(&self, request: &ChargeRequest<'_>) -> Result<Option<ChargeRecord>, ProcessorError> {
        self.sandbox.lookup(request).await
    }

    async fn payment(&self, payment_id: &str, account: Option<&str>) -> Result<ProcessorPayment, ProcessorError> {
        self.sandbox.payment(payment_id, account).await
    }
}

/// A processor that reports one payment (as Stripe's webhooks do) and is the sandbox otherwise,
/// for tests of what a reported payment changes.
#[cfg(test)]
pub(crate) struct ReportingProcessor {
    sandbox: SandboxProcessor,
    reported: ProcessorPayment,
    card_entry: CardEntry,
    /// Every charge waits for the customer to authenticate with the bank (3-D Secure).
    authenticates: bool,
}

#[cfg(test)]
impl ReportingProcessor {
    pub(crate) fn new(ledger: Arc<dyn ChargeLedger>, reported: ProcessorPayment) -> Self {
        ReportingProcessor {
            sandbox: SandboxProcessor::new(ledger),
            reported,
            card_entry: CardEntry::Form,
            authenticates: false,
        }
    }

    /// The same, with Stripe.js's page, answering every charge with a 3-D Secure challenge.
    pub(crate) fn asking_for_authentication(self) -> Self {
        ReportingProcessor { authenticates: true, ..self.with_stripe_js() }
    }

    /// The same, with a page that takes cards in Stripe.js (and comes back from 3-D Secure).
    pub(crate) fn with_stripe_js(self) -> Self {
        ReportingProcessor {
            card_entry: CardEntry::StripeJs(crate::test_support::test_stripe_js("http://stripe")),
            ..self
        }
    }
}

#[cfg(test)]
#[async_trait]
impl PaymentProcessor for ReportingProcessor {
    fn card_entry(&self) -> CardEntry {
        self.card_entry.clone()
    }

    async fn charge(
        &self,
        request: &ChargeRequest<'_>,
        payment: PaymentDetails<'_>,
    ) -> Result<Charged, ProcessorError> {
        if self.authenticates {
            let payment_id = "pi_reported".to_owned();
            return Ok(Charged::NeedsAuthentication { client_secret: format!("{payment_id}_secret"), payment_id });
        }
        self.sandbox.charge(request, payment).await
    }

    async fn void(&self, request: &ChargeRequest<'_>, transaction_id: &str) -> Result<(), ProcessorError> {
        self.sandbox.void(request, transaction_id).await
    }

    async fn lookup(&self, request: &ChargeRequest<'_>) -> Result<Option<ChargeRecord>, ProcessorError> {
        self.sandbox.lookup(request).await
    }

    async fn payment(&self, _: &str, _: Option<&str>) -> Result<ProcessorPayment, ProcessorError> {
        Ok(self.reported.clone())
    }
}

/// The transaction ids of the approved charges recorded for `session` that stand (not voided),
/// over all its attempts.
#[cfg(test)]
pub(crate) async fn approved_charges(
    ledger: &dyn ChargeLedger,
    session: &crate::model::CheckoutSession,
) -> Vec<String> {
    let recorded = recorded_charges(ledger, session).await.into_iter().filter(|record| !record.voided);
    recorded
        .filter_map(|record| match record.outcome {
            ChargeOutcome::Approved { transaction_id, .. } => Some(transaction_id),
            ChargeOutcome::Declined { .. } => None,
        })
        .collect()
}

/// Every charge of this session the sandbox processor recorded, whatever it answered.
#[cfg(test)]
pub(crate) async fn recorded_charges(
    ledger: &dyn ChargeLedger,
    session: &crate::model::CheckoutSession,
) -> Vec<ChargeRecord> {
    let mut recorded = Vec::new();
    for number in 1..=session.attempts {
        recorded.extend(ledger.get_charge(&format!("{}:{number}", session.id)).await.unwrap());
    }
    recorded
}
