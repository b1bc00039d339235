//! Payment processors. The built-in `sandbox` is test mode, like every provider's: a handful
//! of test cards with known outcomes, and any other number refused, so no real card data is
//! ever taken.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;

use super::card::Card;
use crate::model::{ChargeOutcome, ChargeRecord, DeclineReason};
use crate::money::{Currency, MinorUnits};
use crate::store::{ChargeLedger, StoreError};

/// One charge, sent with a key derived from the session attempt: the same key always gets
/// the same outcome, so a retried pay can never charge twice.
pub struct ChargeRequest<'a> {
    pub idempotency_key: String,
    pub amount: MinorUnits,
    pub currency: Currency,
    pub card: &'a Card,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// The processor failed the charge for reasons the customer cannot fix.
    #[error("processing error: {0}")]
    Processing(String),
    /// The processor (or its record keeping) could not be reached; nothing is known to be charged.
    #[error("processor unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for ProcessorError {
    fn from(error: StoreError) -> Self {
        ProcessorError::Unavailable(error.to_string())
    }
}

#[async_trait]
pub trait PaymentProcessor: Send + Sync {
    /// Charges the card, or returns the outcome already recorded under the same key.
    async fn charge(&self, request: &ChargeRequest<'_>) -> Result<ChargeOutcome, ProcessorError>;
    /// Reverses an approved charge (used when a use could not be committed after charging).
    async fn void(&self, idempotency_key: &str) -> Result<(), ProcessorError>;
    /// What the processor recorded under `idempotency_key`, if anything: how a retry learns
    /// the outcome of a charge whose process died before it could act on it.
    async fn lookup(&self, idempotency_key: &str) -> Result<Option<ChargeRecord>, ProcessorError>;
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
    async fn charge(&self, request: &ChargeRequest<'_>) -> Result<ChargeOutcome, ProcessorError> {
        let outcome = match request.card.number() {
            TEST_CARD_SUCCESS | TEST_CARD_AMEX_SUCCESS => ChargeOutcome::Approved {
                transaction_id: format!("txn_{}", ulid::Ulid::new()),
                card_brand: request.card.brand.to_owned(),
                card_last_four: request.card.last_four.clone(),
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
        Ok(recorded.outcome)
    }

    async fn void(&self, idempotency_key: &str) -> Result<(), ProcessorError> {
        self.ledger.void_charge(idempotency_key).await?;
        Ok(())
    }

    async fn lookup(&self, idempotency_key: &str) -> Result<Option<ChargeRecord>, ProcessorError> {
        Ok(self.ledger.get_charge(idempotency_key).await?)
    }
}

/// The sandbox with a processor's worst day injected, for tests: the next `timeouts` charges
/// time out (`usize::MAX`: all of them), after the charge went through when `after_charging`
/// (the caller cannot know it did), else before; later charges are the sandbox's. It counts
/// the charges it was asked for.
#[cfg(test)]
pub(crate) struct InjectedProcessor {
    sandbox: SandboxProcessor,
    after_charging: bool,
    timeouts_left: std::sync::atomic::AtomicUsize,
    asked: std::sync::atomic::AtomicUsize,
}

#[cfg(test)]
impl InjectedProcessor {
    pub(crate) fn new(ledger: Arc<dyn ChargeLedger>, timeouts: usize, after_charging: bool) -> Self {
        InjectedProcessor {
            sandbox: SandboxProcessor::new(ledger),
            after_charging,
            timeouts_left: timeouts.into(),
            asked: Default::default(),
        }
    }

    /// Charges asked for so far, timed out or not.
    pub(crate) fn charges_asked(&self) -> usize {
        self.asked.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
#[async_trait]
impl PaymentProcessor for InjectedProcessor {
    async fn charge(&self, request: &ChargeRequest<'_>) -> Result<ChargeOutcome, ProcessorError> {
        use std::sync::atomic::Ordering::SeqCst;
        self.asked.fetch_add(1, SeqCst);
        let times_out = self.timeouts_left.fetch_update(SeqCst, SeqCst, |left| left.checked_sub(1)).is_ok();
        if !times_out {
            return self.sandbox.charge(request).await;
        }
        if self.after_charging {
            self.sandbox.charge(request).await?;
        }
        Err(ProcessorError::Unavailable("injected: processor timed out".into()))
    }

    async fn void(&self, idempotency_key: &str) -> Result<(), ProcessorError> {
        self.sandbox.void(idempotency_key).await
    }

    async fn lookup(&self, idempotency_key: &str) -> Result<Option<ChargeRecord>, ProcessorError> {
        self.sandbox.lookup(idempotency_key).await
    }
}

/// The transaction ids of the approved charges recorded for `session` that stand (not voided),
/// over all its attempts.
#[cfg(test)]
pub(crate) async fn approved_charges(
    ledger: &dyn ChargeLedger,
    session: &crate::model::CheckoutSession,
) -> Vec<String> {
    let mut approved = Vec::new();
    for number in 1..=session.attempts {
        let record = ledger.get_charge(&format!("{}:{number}", session.id)).await.unwrap();
        if let Some(record) = record.filter(|r| !r.voided)
            && let ChargeOutcome::Approved { transaction_id, .. } = record.outcome
        {
            approved.push(transaction_id);
        }
    }
    approved
}
