//! The pay flow: one POST of the checkout form, from form fields to an outcome.
//!
//! Order of decisions, each one atomic in the store:
//! 1. `begin_attempt_on` — this request (and only this one) may charge the session, and it
//!    counts against the client's and the link's card-testing limits from now on (refused at
//!    either limit: `guard::attempt_limits`); on a
//!    link without a usage limit, `begin_attempt_checking_link` also checks in the same decision
//!    that the link takes payments (nothing is held on such links);
//! 2. `claim_use` (links with a usage limit, and takeovers) — a use of the link is held *before*
//!    the card is charged, and the link comes back as the claim left it;
//! 3. the processor charges with a key derived from the attempt, so a retry after a crash
//!    gets the original outcome instead of a second charge (with 3-D Secure, the page then
//!    authenticates with the bank and posts back, or Stripe's webhook reports the outcome);
//! 4. `complete_payment_on` turns the hold into a use and completes the session together,
//!    decided from the claim's copy of the link, and gives the attempt's counts back;
//!    `decline_attempt` ends a declined attempt and gives its hold back (the counts stay); a
//!    processing error gives the hold and the counts back and fails the session. A process
//!    that dies mid-way leaves a lease and a hold that lapse by themselves, so nothing leaks
//!    (its counts stay, as a decline's would, until their windows end).

use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq;

use super::card::parse_card;
use super::guard;
use super::processor::{CardEntry, ChargeRequest, Charged, PaymentDetails, PaymentProcessor, ProcessorError};
use super::stripe_amounts::{minimum_charge, to_stripe};
use crate::clock::Clock;
use crate::error::ApiError;
use crate::model::{
    Cart, ChargeOutcome, ChargeRecord, CheckoutSession, DeclineReason, DonationConfig, FailureCode, PaymentAttempt,
    PaymentLink, PaymentResult, SessionStatus, Unavailable,
};
use crate::money::{Currency, MinorUnits, parse_decimal_string};
use crate::store::{
    AttemptEnd, BeginAttempt, ClaimUse, CompletePayment, Counters, LinkRefusal, Links, Payments, Sessions,
};

/// The checkout form as posted. Its `Debug` never shows the card.
#[derive(Default)]
pub struct PayForm {
    /// Stripe mode: the card token Stripe.js made in the browser (`tok_…`).
    pub payment_token: String,
    /// Stripe mode, back from 3-D Secure: the PaymentIntent the page authenticated (`pi_…`).
    pub payment_intent: String,
    pub card_number: String,
    pub expiry: String,
    pub cvc: String,
    pub cardholder_name: String,
    /// Donations: a preset or a decimal string.
    pub amount: Option<String>,
    /// Donations: the custom amount field; wins over `amount` when filled in.
    pub custom_amount: Option<String>,
    pub form_token: String,
}

impl std::fmt::Debug for PayForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayForm").field("amount", &self.amount).field("custom_amount", &self.custom_amount).finish()
    }
}

impl PayForm {
    /// Parses an `application/x-www-form-urlencoded` body; unknown fields are ignored.
    pub fn parse(body: &[u8]) -> PayForm {
        let mut form = PayForm::default();
        for (name, value) in url::form_urlencoded::parse(body) {
            let value = value.into_owned();
            match name.as_ref() {
                "cardNumber" => form.card_number = value,
                "expiry" => form.expiry = value,
                "cvc" => form.cvc = value,
                "cardholderName" => form.cardholder_name = value,
                "amount" => form.amount = Some(value).filter(|v| !v.trim().is_empty()),
                "customAmount" => form.custom_amount = Some(value).filter(|v| !v.trim().is_empty()),
                "formToken" => form.form_token = value,
                "paymentToken" => form.payment_token = value,
                "paymentIntent" => form.payment_intent = value,
                _ => {}
            }
        }
        form
    }

    /// The raw card fields posted, by name: never accepted when Stripe.js takes the card.
    fn card_fields(&self) -> impl Iterator<Item = &'static str> {
        [("cardNumber", &self.card_number), ("expiry", &self.expiry), ("cvc", &self.cvc)]
            .into_iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(name, _)| name)
    }

    /// The donation amount chosen on the form, as typed.
    pub fn chosen_amount(&self) -> Option<&str> {
        self.custom_amount.as_deref().or(self.amount.as_deref()).map(str::trim)
    }
}

/// What the customer's browser is shown after a pay.
#[derive(Debug)]
pub enum PayOutcome {
    /// Paid (now or by an earlier submit of the same session): 303 to the success URL.
    Paid(CheckoutSession),
    /// A problem the customer can fix: the page again, with this message.
    TryAgain { session: CheckoutSession, message: String },
    /// The processor declined the card: the customer can try again, perhaps with another card.
    Declined { session: CheckoutSession, reason: DeclineReason },
    /// Unrecoverable: 303 to the error URL with this code.
    Failed { session: CheckoutSession, code: FailureCode },
    /// The session cannot be paid any more (expired, cancelled, failed).
    Closed(CheckoutSession),
    /// The link stopped taking payments while the customer was on the page; not charged.
    LinkUnavailable { session: CheckoutSession, reason: Unavailable },
    /// Another submit of this session is being charged right now.
    InProgress(CheckoutSession),
    /// Too many declined cards on this link or from this client: refused before charging.
    TooManyAttempts { session: CheckoutSession, retry_after_seconds: u64 },
    /// The bank wants the customer to authenticate (3-D Secure): the page runs Stripe.js's
    /// authentication with this secret, then posts the PaymentIntent back.
    Authenticate { session: CheckoutSession, client_secret: String },
}

/// What paying touches, and nothing else: sessions and their payments, links (a link under
/// attack is paused), the card-testing counters, the processor and the clock.
pub struct Cashier<'a, S: ?Sized> {
    pub store: &'a S,
    pub processor: &'a dyn PaymentProcessor,
    pub clock: &'a dyn Clock,
}

impl<S: Sessions + Payments + Links + Counters + ?Sized> Cashier<'_, S> {
    /// Pays the session `id` with `form`, posted from `client_ip` (for the card-testing limits).
    pub async fn pay(&self, id: &str, form: &PayForm, client_ip: Option<&str>) -> Result<PayOutcome, ApiError> {
        let now = self.clock.now();
        let id = super::session_id(id)?;
        let session = self.store.get_session(&id).await?.ok_or(ApiError::SessionNotFound)?;
        let session_id = &session.id.clone();
        // The token first: a post without this session's form token learns nothing but what
        // the page itself would show (a paid session is "already paid", never its redirect).
        let token_matches: bool = form.form_token.as_bytes().ct_eq(session.form_token.as_bytes()).into();
        if session.status == SessionStatus::Completed && token_matches {
            return Ok(PayOutcome::Paid(session));
        }
        let card_entry = self.processor.card_entry();
        // Back from 3-D Secure with the session's time run out meanwhile: the attempt began
        // while it was open and the bank may have approved it, so it is decided as Stripe's
        // webhook would decide it, not shown as closed to a customer who has just paid.
        let authenticated_in_flight = matches!(card_entry, CardEntry::StripeJs(_))
            && !form.payment_intent.is_empty()
            && session.status == SessionStatus::Pending
            && session.in_flight.is_some();
        let may_go_on = session.is_open(now) || (token_matches && authenticated_in_flight);
        if !may_go_on {
            return Ok(PayOutcome::Closed(session));
        }
        if !token_matches {
            return Err(ApiError::StaleForm);
        }
        if let CardEntry::StripeJs(_) = card_entry {
            if let Some(field) = form.card_fields().next() {
                let message =
                    format!("{field}: card details are taken only by the secure card field, never posted here.");
                return Ok(PayOutcome::TryAgain { session, message });
            }
            // Back from 3-D Secure: finish the attempt the page authenticated, never start another.
            if !form.payment_intent.is_empty() {
                if !is_stripe_id("pi_", &form.payment_intent) {
                    return Err(ApiError::StaleForm);
                }
                return self.finish_authenticated(session, &form.payment_intent, client_ip).await;
            }
        }
        let amount = match charge_amount(&session, form, &card_entry) {
            Ok(amount) => amount,
            Err(message) => return Ok(PayOutcome::TryAgain { session, message }),
        };
        let mut card = None;
        let payment = match card_entry {
            CardEntry::Form => match parse_card(&form.card_number, &form.expiry, &form.cvc, &form.cardholder_name, now)
            {
                Ok(parsed) => PaymentDetails::Card(card.insert(parsed)),
                Err(error) => return Ok(PayOutcome::TryAgain { session, message: error.to_string() }),
            },
            CardEntry::StripeJs(_) => match form.payment_token.trim() {
                token if is_stripe_id("tok_", token) => PaymentDetails::StripeToken(token),
                _ => {
                    let message = "Enter your card details in the card field.".to_owned();
                    return Ok(PayOutcome::TryAgain { session, message });
                }
            },
        };

        // A link with a usage limit has a use held for the attempt (`claim_use`); one without is
        // only checked, in the same decision that begins the attempt. A takeover begins
        // unchecked: its earlier charge is settled first, then the claim checks the link.
        // The attempt counts against the client's and the link's card-testing limits from its
        // start; only a processor's decline keeps the counts (see `guard`), so forms we refuse
        // ourselves and refused tries never count.
        let claims_use = session.link_has_usage_limit || session.in_flight.is_some();
        let lease_until = now + PaymentAttempt::LEASE;
        let limits = guard::attempt_limits(&session.link_id, client_ip, now);
        let begun = if claims_use {
            self.store.begin_attempt_on(&session, amount, now, lease_until, &limits).await?
        } else {
            self.store.begin_attempt_checking_link(&session, amount, now, lease_until, &limits).await?
        };
        let attempt = match begun {
            BeginAttempt::Started(attempt) => attempt,
            BeginAttempt::Busy => return Ok(PayOutcome::InProgress(session)),
            BeginAttempt::Closed(session) if session.status == SessionStatus::Completed => {
                return Ok(PayOutcome::Paid(session));
            }
            BeginAttempt::Closed(session) => return Ok(PayOutcome::Closed(session)),
            BeginAttempt::NotFound => return Err(ApiError::SessionNotFound),
            BeginAttempt::LinkRefused(refusal) => return Ok(refused(session, refusal, now)),
            BeginAttempt::TooManyAttempts(until) => {
                let retry_after_seconds = guard::seconds_until(until, now);
                return Ok(PayOutcome::TooManyAttempts { session, retry_after_seconds });
            }
        };
        // Taking over a lapsed attempt: its process may have charged the card before dying.
        // Settle what the processor recorded before anything else can drop the attempt.
        if session.in_flight.is_some()
            && let Some(settled) = self.settle_recorded_charge(&session, &attempt).await?
        {
            return Ok(settled);
        }
        let claimed = if claims_use {
            match self.claim_use(&session, &attempt, now).await? {
                Ok(link) => Some(link),
                Err(refused) => return Ok(refused),
            }
        } else {
            None
        };

        let charged = self.processor.charge(&ChargeRequest::of(&session, &attempt), payment).await;
        match charged {
            Ok(charged) => {
                if let Charged::NeedsAuthentication { .. } = charged {
                    self.hold_use_while_authenticating(&session).await;
                }
                self.act_on(session, &attempt, charged, client_ip, claimed.as_deref()).await
            }
            // A donor can give another amount; a fixed amount the processor refuses can never
            // be paid, and fails as any processing error.
            Err(ProcessorError::AmountRefused(detail)) if matches!(session.checkout.cart, Cart::Donation { .. }) => {
                tracing::warn!(session_id = %session_id, detail, "processor refused the donor's amount");
                self.give_back_use(&session).await?;
                self.store.end_attempt(&session.id, &attempt, AttemptEnd::Declined).await?;
                let message = "The card processor cannot take this amount. Choose another.".to_owned();
                Ok(PayOutcome::TryAgain { session, message })
            }
            Err(ProcessorError::Processing(detail) | ProcessorError::AmountRefused(detail)) => {
                tracing::warn!(session_id = %session_id, detail, "processor failed the charge");
                self.give_back_use(&session).await?;
                self.fail(session, &attempt, FailureCode::SystemError).await
            }
            Err(error @ ProcessorError::Unavailable(_)) => Err(processor_unreachable(&session, error)),
        }
    }

    /// Holds a use of the session's link for `attempt` (see `Payments::claim_use`): the link as
    /// the claim left it, or what the customer is told when the link refuses (the attempt then
    /// ends, nothing charged).
    async fn claim_use(
        &self,
        session: &CheckoutSession,
        attempt: &PaymentAttempt,
        now: DateTime<Utc>,
    ) -> Result<Result<Box<PaymentLink>, PayOutcome>, ApiError> {
        let end_attempt = |end: AttemptEnd| self.store.end_attempt(&session.id, attempt, end);
        let claimed = match self.store.claim_use(&session.link_id, &session.id, now, attempt.lease_until).await {
            Ok(claimed) => claimed,
            Err(error) => {
                // Nothing was charged under this attempt: give back a hold the claim may have taken
                // and end the attempt, so the customer's retry starts at once instead of meeting "in
                // progress" until the lease lapses. Only our own fresh attempt (a taken-over one
                // keeps its number and key for whoever else holds it), and only while its lease is
                // ours: after it, another request may have taken the attempt over. Best effort; the
                // lease and the hold lapse anyway.
                let fresh = attempt.number > session.attempts;
                if fresh && self.clock.now() < attempt.lease_until {
                    let _ = self.store.release_use(&session.link_id, &session.id).await;
                    let _ = end_attempt(AttemptEnd::Declined).await;
                }
                return Err(error.into());
            }
        };
        match claimed {
            ClaimUse::Claimed(link) => Ok(Ok(link)),
            ClaimUse::Refused(refusal) => {
                end_attempt(AttemptEnd::Declined).await?;
                Ok(Err(refused(session.clone(), refusal, now)))
            }
            ClaimUse::NotFound => self.fail(session.clone(), attempt, FailureCode::SessionFailed).await.map(Err),
        }
    }

    /// Gives back the use the session holds on its link, if its link has a usage limit (one
    /// without holds none: there is nothing to write).
    async fn give_back_use(&self, session: &CheckoutSession) -> Result<(), ApiError> {
        if session.link_has_usage_limit {
            self.store.release_use(&session.link_id, &session.id).await?;
        }
        Ok(())
    }

    /// What the processor decided for `attempt`, acted on: an approved charge completes the
    /// payment, a decline gives the use back and ends the attempt (and counts against the
    /// card-testing limits), a 3-D Secure request goes to the page. `claimed` is the link as
    /// this request's claim left it, if it made one (completing then needs no read of it).
    pub(super) async fn act_on(
        &self,
        session: CheckoutSession,
        attempt: &PaymentAttempt,
        charged: Charged,
        client_ip: Option<&str>,
        claimed: Option<&PaymentLink>,
    ) -> Result<PayOutcome, ApiError> {
        match charged {
            Charged::Decided(ChargeOutcome::Approved { transaction_id, card_brand, card_last_four }) => {
                let completed_at = self.clock.now();
                let amount = attempt.amount;
                let result = PaymentResult { transaction_id, amount, card_brand, card_last_four, completed_at };
                self.complete(session, attempt, &result, claimed).await
            }
            Charged::Decided(ChargeOutcome::Declined { reason }) => {
                // The attempt's card-testing counts (the client's, the link's unsettled attempts)
                // were taken when it began and stay; the link's declines are counted apart, for
                // they decide whether the link is blocked or paused.
                let now = self.clock.now();
                // Counted by whoever ended the attempt: the page's post and Stripe's event may
                // both report this decline.
                let ended = self.store.decline_attempt(&session, attempt.number, reason).await?;
                // The decline is decided and stored: a failure to count it on the link is logged,
                // never turned into an error for the customer.
                let counted = if ended {
                    guard::record_decline(self.store, &session.link_id, client_ip, now).await
                } else {
                    Ok(())
                };
                if let Err(error) = counted {
                    tracing::warn!(session_id = %session.id, %error, "decline not counted on the link");
                }
                Ok(PayOutcome::Declined { session, reason })
            }
            Charged::NeedsAuthentication { client_secret, .. } => {
                Ok(PayOutcome::Authenticate { session, client_secret })
            }
        }
    }

    /// Renews the session's hold on a use of its link for the bank's challenge
    /// (`PaymentAttempt::AUTHENTICATION_HOLD`), so that no other customer takes that use when the
    /// attempt's lease runs out and the charge, once authenticated, is not refunded as "limit
    /// reached". Once per charge: the page posting the PaymentIntent back, or Stripe reporting
    /// it, never renews it again. Best effort: the card is at the bank already, and the page
    /// must go on to authenticate; without the renewal, completing takes a free use if one is left.
    async fn hold_use_while_authenticating(&self, session: &CheckoutSession) {
        if !session.link_has_usage_limit {
            return;
        }
        let hold_until = self.clock.now() + PaymentAttempt::AUTHENTICATION_HOLD;
        match self.store.renew_hold(&session.link_id, &session.id, hold_until).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(session_id = %session.id, "no hold to renew for 3-D Secure"),
            Err(error) => tracing::warn!(session_id = %session.id, %error, "hold not renewed for 3-D Secure"),
        }
    }

    /// The page is back from 3-D Secure with `payment_id`: what the processor says about it
    /// decides the attempt in flight, if the payment is that attempt's.
    async fn finish_authenticated(
        &self,
        session: CheckoutSession,
        payment_id: &str,
        client_ip: Option<&str>,
    ) -> Result<PayOutcome, ApiError> {
        let Some(attempt) = session.in_flight.clone() else {
            // The attempt already ended (Stripe's webhook reported a failure first).
            let message = "This payment was not completed. Enter your card again.".to_owned();
            return Ok(PayOutcome::TryAgain { session, message });
        };
        let account = session.checkout.stripe_account.as_deref();
        let payment = match self.processor.payment(payment_id, account).await {
            Ok(payment) => payment,
            Err(error @ ProcessorError::Unavailable(_)) => return Err(processor_unreachable(&session, error)),
            Err(ProcessorError::Processing(detail) | ProcessorError::AmountRefused(detail)) => {
                tracing::warn!(session_id = %session.id, detail, "payment posted back is not the processor's");
                return Err(ApiError::StaleForm);
            }
        };
        if payment.session_id != session.id.to_string() || payment.attempt != attempt.number {
            return Err(ApiError::StaleForm);
        }
        self.act_on(session, &attempt, payment.charged, client_ip, None).await
    }

    /// If the processor recorded an outcome for `attempt`, finishes the session with it: an
    /// approved charge completes the payment, a recorded decline ends the attempt. `None` when
    /// nothing was charged under the attempt's key.
    pub async fn settle_recorded_charge(
        &self,
        session: &CheckoutSession,
        attempt: &PaymentAttempt,
    ) -> Result<Option<PayOutcome>, ApiError> {
        let recorded = self.processor.lookup(&ChargeRequest::of(session, attempt)).await;
        self.settle_record(session, attempt, recorded).await
    }

    /// `settle_recorded_charge` for a session about to be cancelled: the processor first makes
    /// sure the attempt can charge nothing more (`PaymentProcessor::stop`), so what it recorded
    /// is final and a cancelled session never turns out paid.
    pub async fn settle_before_cancelling(
        &self,
        session: &CheckoutSession,
        attempt: &PaymentAttempt,
    ) -> Result<Option<PayOutcome>, ApiError> {
        let recorded = self.processor.stop(&ChargeRequest::of(session, attempt)).await;
        self.settle_record(session, attempt, recorded).await
    }

    async fn settle_record(
        &self,
        session: &CheckoutSession,
        attempt: &PaymentAttempt,
        recorded: Result<Option<ChargeRecord>, ProcessorError>,
    ) -> Result<Option<PayOutcome>, ApiError> {
        let Some(record) = recorded.map_err(|error| processor_unreachable(session, error))? else { return Ok(None) };
        match record.outcome {
            _ if record.voided => Ok(None),
            ChargeOutcome::Approved { transaction_id, card_brand, card_last_four } => {
                let completed_at = self.clock.now();
                let result =
                    PaymentResult { transaction_id, amount: record.amount, card_brand, card_last_four, completed_at };
                self.complete(session.clone(), attempt, &result, None).await.map(Some)
            }
            ChargeOutcome::Declined { reason } => {
                self.store.decline_attempt(session, attempt.number, reason).await?;
                Ok(Some(PayOutcome::Declined { session: session.clone(), reason }))
            }
        }
    }

    async fn complete(
        &self,
        session: CheckoutSession,
        attempt: &PaymentAttempt,
        result: &PaymentResult,
        claimed: Option<&PaymentLink>,
    ) -> Result<PayOutcome, ApiError> {
        match self.store.complete_payment_on(&session, attempt, claimed, result).await? {
            CompletePayment::Completed => {
                let session = CheckoutSession {
                    status: SessionStatus::Completed,
                    payment: Some(result.clone()),
                    in_flight: None,
                    ..session
                };
                Ok(PayOutcome::Paid(session))
            }
            // Our hold lapsed and the link filled meanwhile: give the money back.
            CompletePayment::LimitReached => {
                let request = ChargeRequest::of(&session, attempt);
                // Unreachable: 503, and the customer's retry after the lease takes the attempt
                // over, finds the charge and gives it back then.
                let voided = self.processor.void(&request, &result.transaction_id).await;
                voided.map_err(|error| match error {
                    ProcessorError::Unavailable(_) => processor_unreachable(&session, error),
                    other => ApiError::Internal(other.to_string()),
                })?;
                self.store.end_attempt(&session.id, attempt, AttemptEnd::Declined).await?;
                Ok(PayOutcome::LinkUnavailable { session, reason: Unavailable::LimitReached })
            }
            // An earlier submit of this very attempt completed it (same key, same charge).
            CompletePayment::SessionChanged => {
                let current = self.store.get_session(&session.id).await?.ok_or(ApiError::SessionNotFound)?;
                match current.status {
                    SessionStatus::Completed => Ok(PayOutcome::Paid(current)),
                    _ => Ok(PayOutcome::Closed(current)),
                }
            }
        }
    }

    async fn fail(
        &self,
        session: CheckoutSession,
        attempt: &PaymentAttempt,
        code: FailureCode,
    ) -> Result<PayOutcome, ApiError> {
        let failed = AttemptEnd::Failed { failure_code: code, at: self.clock.now() };
        self.store.end_attempt(&session.id, attempt, failed).await?;
        Ok(PayOutcome::Failed { session, code })
    }
}

/// What the customer is told when the link refuses the pay before anything is charged.
fn refused(session: CheckoutSession, refusal: LinkRefusal, now: DateTime<Utc>) -> PayOutcome {
    match refusal {
        LinkRefusal::Unavailable(reason) => PayOutcome::LinkUnavailable { session, reason },
        LinkRefusal::Blocked(until) => {
            PayOutcome::TooManyAttempts { session, retry_after_seconds: guard::seconds_until(until, now) }
        }
    }
}

/// The processor's answer is unknown: the attempt keeps its lease and its hold, and the
/// customer is told when paying again is safe (a retry after the lease takes the attempt over
/// with the same key and learns the real outcome).
fn processor_unreachable(session: &CheckoutSession, error: ProcessorError) -> ApiError {
    tracing::warn!(session_id = %session.id, detail = %error, "processor unreachable");
    ApiError::ProcessorUnavailable
}

/// A Stripe object's id as Stripe writes them: its `prefix` (`tok_` for a Stripe.js card token,
/// `pi_` for a PaymentIntent) and letters or digits. What the page posts goes into a Stripe API
/// path or form only in this shape.
pub(crate) fn is_stripe_id(prefix: &str, id: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|rest| {
        (1..=255).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

/// The smallest custom amount a donor may give on this deployment: the merchant's (or one whole
/// unit), and with Stripe at least Stripe's smallest charge in the currency. The page states it;
/// paying checks it.
pub fn smallest_custom_donation(donation: &DonationConfig, currency: Currency, card_entry: &CardEntry) -> MinorUnits {
    let merchants = donation.smallest_custom_amount(currency);
    match card_entry {
        CardEntry::StripeJs(_) => minimum_charge(currency).map_or(merchants, |stripes| merchants.max(stripes)),
        CardEntry::Form => merchants,
    }
}

/// Whether `amount`, as typed, is one this session's donation form takes (a preset, or a custom
/// amount within the bounds), paid through `card_entry`; false for carts that are not donations.
pub fn donation_accepts(session: &CheckoutSession, amount: &str, card_entry: &CardEntry) -> bool {
    let form = PayForm { custom_amount: Some(amount.to_owned()), ..PayForm::default() };
    matches!(session.checkout.cart, Cart::Donation { .. }) && charge_amount(session, &form, card_entry).is_ok()
}

/// The amount to charge, always from the stored session; for donations the form's choice is
/// checked against the presets and the bounds (`smallest_custom_donation`), and with Stripe
/// against what Stripe can state exactly: the donor is asked for another amount before anything
/// is held or charged. (A link's fixed amounts and presets were checked when it was created.)
fn charge_amount(session: &CheckoutSession, form: &PayForm, card_entry: &CardEntry) -> Result<MinorUnits, String> {
    let currency = session.checkout.currency;
    let donation = match &session.checkout.cart {
        Cart::Amount { amount } => return Ok(*amount),
        Cart::Items { total, .. } | Cart::ItemsOnLink { total } => return Ok(*total),
        Cart::Donation { donation } => donation,
    };
    let text = form.chosen_amount().ok_or("Choose an amount to give.")?;
    let amount = parse_decimal_string(text, currency).map_err(|e| format!("The amount {e}."))?;
    if !donation.presets.contains(&amount) {
        if !donation.allow_custom_amount {
            return Err("Choose one of the amounts shown.".to_owned());
        }
        let min = smallest_custom_donation(donation, currency, card_entry);
        if amount < min {
            return Err(format!("The smallest amount you can give is {}.", min.to_decimal_string(currency)));
        }
        if let Some(max) = donation.max_amount.filter(|max| amount > *max) {
            return Err(format!("The largest amount you can give is {}.", max.to_decimal_string(currency)));
        }
    }
    if let CardEntry::StripeJs(_) = card_entry {
        to_stripe(amount, currency).map_err(|why| format!("{why}."))?;
    }
    Ok(amount)
}
