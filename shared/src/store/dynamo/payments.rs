//! Paying: every decision one conditional write (a transaction to complete), each condition
//! stating exactly what the decision relies on.

use async_trait::async_trait;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::codec::{attribute, epoch_nanos, event_item, status, stored, to_item};
use super::errors::{back_off, cancellation_reasons, classify_transaction, contention, failure, send_transaction};
use super::write::{Write, put_new_request};
use super::{
    BLOCKED_UNTIL_NANOS, CONFLICT_RETRIES, DECISION_ROUNDS, DynamoStore, EXPIRES_AT_NANOS, Item, LAPSED_PER_WRITE,
    Written, from_item, number,
};
use crate::model::{
    CheckoutSession, DeclineReason, Event, LinkId, PaymentAttempt, PaymentLink, PaymentResult, RateCounter, SessionId,
    SessionStatus,
};
use crate::money::MinorUnits;
use crate::store::{
    AttemptEnd, BeginAttempt, ClaimUse, CompletePayment, CounterLimit, LinkRefusal, Payments, Sessions, StoreError,
    keys, retention,
};

/// How `complete_payment` counts the use on the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counting {
    /// The session's hold becomes the use.
    Hold,
    /// No hold (it lapsed and was given back): take a free use, if any.
    FreeUse,
    /// Unlimited links only count.
    Unlimited,
}

impl Counting {
    fn for_link(link: &PaymentLink, session: &SessionId) -> Counting {
        match link.usage_limit {
            None => Counting::Unlimited,
            Some(_) if link.claims.contains_key(session.as_str()) => Counting::Hold,
            Some(_) => Counting::FreeUse,
        }
    }

    /// The link update, conditioned on the link being as this way of counting assumes.
    fn write(self, session: &SessionId) -> Write {
        match self {
            Counting::Hold => {
                Write::new("REMOVE #claims.#sid SET #used = #used + :one", "attribute_exists(#claims.#sid)")
                    .alias("#sid", session.as_str())
            }
            Counting::FreeUse => Write::new(
                "SET #used = #used + :one, #reserved = #reserved + :one",
                "attribute_not_exists(#claims.#sid) AND #reserved < #usageLimit",
            )
            .alias("#sid", session.as_str()),
            Counting::Unlimited => {
                Write::new("SET #used = #used + :one", "attribute_exists(#pk) AND attribute_type(#usageLimit, :null)")
                    .value(":null", AttributeValue::S("NULL".to_owned()))
            }
        }
        .value(":one", number(1))
    }
}

/// The condition on a link that a pay may hold a use of (or, unlimited, just count on) at
/// `:now`: switched on, not expired, not blocked for card testing ([`LinkRefusal::before_limit`]).
const TAKES_PAYMENTS: &str = "#active = :true AND #expiresAtNanos > :now \
     AND (attribute_not_exists(#blockedUntilNanos) OR #blockedUntilNanos <= :now)";

/// What a new attempt's begin decides besides the session, in the same transaction: that the
/// session's link takes payments, and the counts on the attempt's limits.
#[derive(Debug, Clone, Copy, Default)]
struct Alongside<'a> {
    link: Option<&'a LinkId>,
    limits: &'a [CounterLimit],
}

/// The condition of the session writes of `complete_payment`, `end_attempt` and
/// `decline_attempt`: the session is still pending with attempt `:attempt` in flight.
const ATTEMPT_IN_FLIGHT: &str = "#status = :pending AND #inFlight.#number = :attempt";

#[async_trait]
impl Payments for DynamoStore {
    async fn begin_attempt(
        &self,
        session: &SessionId,
        amount: MinorUnits,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<BeginAttempt, StoreError> {
        let pk = keys::session(session);
        let Some(item) = self.get_item(&pk).await? else { return Ok(BeginAttempt::NotFound) };
        self.begin_attempt_from(pk, item, amount, now, lease_until, Alongside::default()).await
    }

    async fn begin_attempt_on(
        &self,
        session: &CheckoutSession,
        amount: MinorUnits,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limits: &[CounterLimit],
    ) -> Result<BeginAttempt, StoreError> {
        // The caller's strongly consistent read stands in for ours: what the conditions compare
        // (`expiresAt`, the attempt in flight's number and lease) is stored exactly as `to_item`
        // of the session writes it; if it changed since, the condition refuses the write and the
        // refusal carries the current item.
        let pk = keys::session(&session.id);
        let item = to_item(pk.clone(), session);
        self.begin_attempt_from(pk, item, amount, now, lease_until, Alongside { link: None, limits }).await
    }

    async fn begin_attempt_checking_link(
        &self,
        session: &CheckoutSession,
        amount: MinorUnits,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limits: &[CounterLimit],
    ) -> Result<BeginAttempt, StoreError> {
        // As `begin_attempt_on`, the write going with a check of the link in one transaction.
        let pk = keys::session(&session.id);
        let item = to_item(pk.clone(), session);
        let alongside = Alongside { link: Some(&session.link_id), limits };
        self.begin_attempt_from(pk, item, amount, now, lease_until, alongside).await
    }

    async fn claim_use(
        &self,
        link: &LinkId,
        session: &SessionId,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
    ) -> Result<ClaimUse, StoreError> {
        let pk = keys::link(link);
        let hold = |write: Write| -> Result<Write, StoreError> {
            Ok(write
                .alias("#sid", session.as_str())
                .value(":hold", attribute(&pk, &hold_until)?)
                .value(":true", AttributeValue::Bool(true))
                .value(":now", epoch_nanos(now)))
        };
        let claim = hold(
            Write::new(
                "SET #claims.#sid = :hold, #reserved = #reserved + :one",
                format!("{TAKES_PAYMENTS} AND attribute_not_exists(#claims.#sid) AND #reserved < #usageLimit"),
            )
            .value(":one", number(1)),
        )?;
        let renewal = hold(Write::new(
            "SET #claims.#sid = :hold",
            format!("{TAKES_PAYMENTS} AND attribute_exists(#claims.#sid)"),
        ))?;

        // Held: the link as the claim left it (ALL_NEW), for `complete_payment_on`.
        let claimed =
            |item: Item| -> Result<ClaimUse, StoreError> { Ok(ClaimUse::Claimed(Box::new(from_item(&pk, item)?))) };
        for _ in 0..DECISION_ROUNDS {
            let item = match self.update(&pk, &claim, ReturnValue::AllNew).await? {
                Written::Applied(item) => return claimed(item),
                Written::Refused(None) => return Ok(ClaimUse::NotFound),
                Written::Refused(Some(item)) => item,
            };
            // Why was it refused? The link as it was when the condition failed says.
            let link: PaymentLink = from_item(&pk, item.clone())?;
            if let Some(refusal) = LinkRefusal::before_limit(&link, now) {
                return Ok(ClaimUse::Refused(refusal));
            }
            let Some(limit) = link.usage_limit else { return Ok(ClaimUse::Claimed(Box::new(link))) };
            if link.claims.contains_key(session.as_str()) {
                match self.update(&pk, &renewal, ReturnValue::AllNew).await? {
                    Written::Applied(item) => return claimed(item),
                    Written::Refused(None) => return Ok(ClaimUse::NotFound),
                    // The hold went meanwhile (released, or lapsed and given back): claim afresh.
                    Written::Refused(Some(_)) => continue,
                }
            }
            if link.reserved < limit {
                return Err(StoreError::Corrupt {
                    key: pk,
                    detail: format!(
                        "claim refused with a use free: {EXPIRES_AT_NANOS} or {BLOCKED_UNTIL_NANOS} not as their times"
                    ),
                });
            }
            // Full: give back the holds whose time has passed, then claim again.
            let mut lapsed = Vec::new();
            for (holder, _) in link.claims.iter().filter(|(_, until)| **until <= now).take(LAPSED_PER_WRITE) {
                lapsed.push((holder.clone(), stored(&pk, &item, &["claims", holder])?));
            }
            if lapsed.is_empty() {
                return Ok(ClaimUse::LIMIT_REACHED);
            }
            self.return_lapsed_holds(&pk, &lapsed).await?;
        }
        Err(contention("claim_use"))
    }

    async fn release_use(&self, link: &LinkId, session: &SessionId) -> Result<(), StoreError> {
        // Refused: the session holds nothing (any more), which is what was asked.
        self.update(&keys::link(link), &releasing(session), ReturnValue::None).await.map(|_| ())
    }

    async fn renew_hold(
        &self,
        link: &LinkId,
        session: &SessionId,
        hold_until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let pk = keys::link(link);
        let renewal = Write::new("SET #claims.#sid = :hold", "attribute_exists(#claims.#sid)")
            .alias("#sid", session.as_str())
            .value(":hold", attribute(&pk, &hold_until)?);
        Ok(matches!(self.update(&pk, &renewal, ReturnValue::None).await?, Written::Applied(_)))
    }

    async fn complete_payment(
        &self,
        session: &SessionId,
        attempt: u32,
        link: &LinkId,
        result: &PaymentResult,
    ) -> Result<CompletePayment, StoreError> {
        // The session and its link as read decide; the transaction checks they still are so.
        let (session_pk, link_pk) = (keys::session(session), keys::link(link));
        let mut items = self.batch_get(&[session_pk.clone(), link_pk.clone()]).await?;
        let Some(session_item) = items.remove(&session_pk) else { return Ok(CompletePayment::SessionChanged) };
        let session: CheckoutSession = from_item(&session_pk, session_item)?;
        let Some(link_item) = items.remove(&link_pk) else { return without_link(&session, attempt, link_pk) };
        // The attempt as begun (its counters with it); one no longer in flight changed nothing.
        let Some(in_flight) = session.in_flight.clone().filter(|in_flight| in_flight.number == attempt) else {
            return Ok(CompletePayment::SessionChanged);
        };
        self.complete_payment_on(&session, &in_flight, Some(&from_item(&link_pk, link_item)?), result).await
    }

    async fn complete_payment_on(
        &self,
        session: &CheckoutSession,
        attempt: &PaymentAttempt,
        link: Option<&PaymentLink>,
        result: &PaymentResult,
    ) -> Result<CompletePayment, StoreError> {
        let (session_pk, link_pk) = (keys::session(&session.id), keys::link(&session.link_id));
        // The link as last seen decides how the use is counted; a refusal brings back the link
        // as stored to decide again. Without a usage limit nothing of it decides: it is not read.
        let mut link = match link {
            Some(link) => Some(link.clone()),
            None if !session.link_has_usage_limit => None,
            None => match self.get::<PaymentLink>(link_pk.clone()).await? {
                Some(link) => Some(link),
                None => return self.complete_without_link(&session.id, attempt.number, link_pk).await,
            },
        };
        let completion =
            // A paid session is kept as long as links are: merchants verify payments for months.
            Write::new("SET #status = :completed, #payment = :payment, #ttl = :ttl REMOVE #inFlight", ATTEMPT_IN_FLIGHT)
                .value(":ttl", number(retention::paid_session(result.completed_at).timestamp()))
                .value(":pending", status(&session_pk, SessionStatus::Pending)?)
                .value(":attempt", number(attempt.number))
                .value(":completed", status(&session_pk, SessionStatus::Completed)?)
                .value(":payment", attribute(&session_pk, result)?);

        let mut conflicts = 0;
        for _ in 0..DECISION_ROUNDS + CONFLICT_RETRIES as usize {
            let counting = link.as_ref().map_or(Counting::Unlimited, |link| Counting::for_link(link, &session.id));
            // The events go in the same transaction: written if and only if the payment is.
            let mut events = vec![Event::session_completed(session, result)];
            let mut link_write = counting.write(&session.id);
            if let Some((link, limit)) = link.as_ref().and_then(|link| Some((link, link.usage_limit?))) {
                // Whether this payment fills the link is decided on `used` as read, and the
                // transaction holds only while that is still so (a refusal re-reads the link;
                // only payments racing for the last use ever meet one).
                let fill_mark = number(limit.saturating_sub(1));
                if link.used + 1 >= limit {
                    link_write = link_write.and("#used = :fillMark").value(":fillMark", fill_mark);
                    events.push(Event::usage_limit_reached(link, limit, result.completed_at));
                } else {
                    link_write = link_write.and("#used < :fillMark").value(":fillMark", fill_mark);
                }
            }
            let mut transaction = self
                .client
                .transact_write_items()
                .transact_items(completion.in_transaction(&self.table, &session_pk)?)
                .transact_items(link_write.in_transaction(&self.table, &link_pk)?);
            for event in &events {
                transaction = transaction.transact_items(put_new_request(&self.table, event_item(event))?);
            }
            // Last, so the session's and the link's reasons stay first and second.
            for counter in &attempt.counters {
                transaction = transaction.transact_items(self.giving_back(counter)?);
            }
            let sent = transaction.send().await;
            let error = match sent {
                Ok(_) => return Ok(CompletePayment::Completed),
                Err(error) => error,
            };
            let reasons = cancellation_reasons(&error);
            let (session_failure, link_failure) = (reasons.first().and_then(failure), reasons.get(1).and_then(failure));
            if session_failure == Some("ConditionalCheckFailed") {
                return Ok(CompletePayment::SessionChanged);
            }
            if link_failure != Some("ConditionalCheckFailed") {
                // Nothing refused: sent again while an item (the counter, say) was only in
                // another transaction at the time.
                let conflict = reasons.iter().any(|reason| failure(reason) == Some("TransactionConflict"));
                if conflict && conflicts < CONFLICT_RETRIES {
                    back_off(conflicts).await;
                    conflicts += 1;
                    continue;
                }
                return Err(StoreError::Unavailable(DisplayErrorContext(&error).to_string()));
            }
            // The session was still pending with this attempt; the link was not as read.
            let Some(current) = reasons.get(1).and_then(|reason| reason.item()).cloned() else {
                return Err(StoreError::Corrupt { key: link_pk, detail: "session of a missing link".into() });
            };
            let current: PaymentLink = from_item(&link_pk, current)?;
            if Counting::for_link(&current, &session.id) == Counting::FreeUse
                && current.usage_limit.is_some_and(|limit| current.reserved >= limit)
            {
                return Ok(CompletePayment::LimitReached);
            }
            link = Some(current);
        }
        Err(contention("complete_payment"))
    }

    async fn decline_attempt(
        &self,
        session: &CheckoutSession,
        attempt: u32,
        reason: DeclineReason,
    ) -> Result<bool, StoreError> {
        let session_pk = keys::session(&session.id);
        let declined = Write::new("SET #lastDecline = :reason REMOVE #inFlight", ATTEMPT_IN_FLIGHT)
            .value(":reason", attribute(&session_pk, &reason)?);
        let declined = ending(&session_pk, attempt, declined)?;
        if !session.link_has_usage_limit {
            // No hold to give back: one write. Refused: the attempt is over already.
            let written = self.update(&session_pk, &declined, ReturnValue::None).await?;
            return Ok(matches!(written, Written::Applied(_)));
        }
        // One transaction. The attempt over already: it stays as it is, and so does the hold, for
        // holds are the session's and it may be a newer attempt's. The hold gone already (lapsed
        // and given back): the attempt ends alone.
        let link_pk = keys::link(&session.link_id);
        let request = self
            .client
            .transact_write_items()
            .transact_items(declined.in_transaction(&self.table, &session_pk)?)
            .transact_items(releasing(&session.id).in_transaction(&self.table, &link_pk)?);
        let error = match send_transaction(&request).await {
            Ok(_) => return Ok(true),
            Err(error) => error,
        };
        let reasons = cancellation_reasons(&error);
        let refused = |n: usize| reasons.get(n).and_then(failure) == Some("ConditionalCheckFailed");
        if refused(0) {
            Ok(false)
        } else if refused(1) {
            let written = self.update(&session_pk, &declined, ReturnValue::None).await?;
            Ok(matches!(written, Written::Applied(_)))
        } else {
            Err(classify_transaction(error, "decline attempt"))
        }
    }

    async fn end_attempt(
        &self,
        session: &SessionId,
        attempt: &PaymentAttempt,
        end: AttemptEnd,
    ) -> Result<(), StoreError> {
        let pk = keys::session(session);
        let write = match end {
            AttemptEnd::Declined => Write::new("REMOVE #inFlight", ATTEMPT_IN_FLIGHT),
            AttemptEnd::Failed { failure_code, .. } => {
                Write::new("SET #status = :failed, #failureCode = :code REMOVE #inFlight", ATTEMPT_IN_FLIGHT)
                    .value(":failed", status(&pk, SessionStatus::Failed)?)
                    .value(":code", AttributeValue::S(failure_code.as_str().to_owned()))
            }
        };
        let write = ending(&pk, attempt.number, write)?;
        let AttemptEnd::Failed { failure_code, at } = end else {
            // Refused: the attempt is over already (or never was), and stays as it is.
            return self.update_giving_back(&pk, &write, &attempt.counters, ReturnValue::None).await.map(|_| ());
        };
        // A failure closes the session with its event, in one transaction (rare: the processor
        // failed the charge), so the event is built from the session as read.
        let Some(current) = self.get_session(session).await? else { return Ok(()) };
        let event = Event::session_failed(&current, failure_code, at);
        let mut request = self
            .client
            .transact_write_items()
            .transact_items(write.in_transaction(&self.table, &pk)?)
            .transact_items(put_new_request(&self.table, event_item(&event))?);
        for counter in &attempt.counters {
            request = request.transact_items(self.giving_back(counter)?);
        }
        match send_transaction(&request).await {
            Ok(_) => Ok(()),
            // The attempt was over already: nothing changed, no event.
            Err(error) if cancellation_reasons(&error).first().and_then(failure) == Some("ConditionalCheckFailed") => {
                Ok(())
            }
            Err(error) => Err(classify_transaction(error, "end attempt")),
        }
    }
}

impl DynamoStore {
    /// `begin_attempt` deciding first from `item`, the session as last read; the write goes only
    /// with what is decided `alongside` it (a taken-over attempt counts on no limits again).
    async fn begin_attempt_from(
        &self,
        pk: String,
        mut item: Item,
        amount: MinorUnits,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        alongside: Alongside<'_>,
    ) -> Result<BeginAttempt, StoreError> {
        for _ in 0..DECISION_ROUNDS {
            // Decide on the session as read; write only if it is still exactly that session.
            let session: CheckoutSession = from_item(&pk, item.clone())?;
            if !session.is_open(now) {
                return Ok(BeginAttempt::Closed(session));
            }
            // A new attempt counts on the limits' counters; a taken-over one counted when it began.
            let (attempt, write, alongside) = match session.in_flight {
                Some(live) if live.lease_until > now => return Ok(BeginAttempt::Busy),
                Some(lapsed) => {
                    // Take over the lapsed attempt: same number and amount, a new lease.
                    let write = Write::new(
                        "SET #inFlight.#leaseUntil = :lease",
                        "#status = :pending AND #expiresAt = :expiresAt \
                         AND #inFlight.#number = :number AND #inFlight.#leaseUntil = :lapsedLease",
                    )
                    .value(":number", number(lapsed.number))
                    .value(":lapsedLease", stored(&pk, &item, &["inFlight", "leaseUntil"])?)
                    .value(":lease", attribute(&pk, &lease_until)?);
                    (PaymentAttempt { lease_until, ..lapsed }, write, Alongside { limits: &[], ..alongside })
                }
                None => {
                    let Some(next) = session.attempts.checked_add(1) else {
                        return Err(StoreError::Corrupt { key: pk, detail: "attempts overflow".into() });
                    };
                    let counters = alongside.limits.iter().map(|limit| limit.counter.clone()).collect();
                    let attempt = PaymentAttempt { number: next, amount, lease_until, counters };
                    let counted = if session.attempts == 0 {
                        "(#attempts = :attempts OR attribute_not_exists(#attempts))"
                    } else {
                        "#attempts = :attempts"
                    };
                    let write = Write::new(
                        "SET #attempts = :next, #inFlight = :attempt",
                        format!(
                            "#status = :pending AND #expiresAt = :expiresAt AND attribute_not_exists(#inFlight) \
                             AND {counted}"
                        ),
                    )
                    .value(":attempts", number(session.attempts))
                    .value(":next", number(next))
                    .value(":attempt", attribute(&pk, &attempt)?);
                    (attempt, write, alongside)
                }
            };
            let write = write
                .value(":pending", status(&pk, SessionStatus::Pending)?)
                .value(":expiresAt", stored(&pk, &item, &["expiresAt"])?);
            let written = match alongside {
                Alongside { link: None, limits: [] } => self.update(&pk, &write, ReturnValue::None).await?,
                _ => match self.begin_in_transaction(&pk, &write, alongside, now).await? {
                    Ok(written) => written,
                    Err(refused) => return Ok(refused),
                },
            };
            match written {
                Written::Applied(_) => return Ok(BeginAttempt::Started(attempt)),
                Written::Refused(Some(current)) => item = current,
                Written::Refused(None) => return Ok(BeginAttempt::NotFound),
            }
        }
        Err(contention("begin_attempt"))
    }

    /// The session write `write` to `pk` in one transaction with what goes `alongside` it: a
    /// check that the link takes payments at `now`, the count on each limit's counter. The
    /// session's refusal comes first (as `update` reports it); then the link's, as the reason it
    /// refuses; then the counters', in the order of the limits.
    async fn begin_in_transaction(
        &self,
        pk: &str,
        write: &Write,
        Alongside { link, limits }: Alongside<'_>,
        now: DateTime<Utc>,
    ) -> Result<Result<Written, BeginAttempt>, StoreError> {
        let link_pk = link.map(keys::link);
        let mut request = self.client.transact_write_items().transact_items(write.in_transaction(&self.table, pk)?);
        if let Some(link_pk) = &link_pk {
            let check = Write::new("", TAKES_PAYMENTS)
                .value(":true", AttributeValue::Bool(true))
                .value(":now", epoch_nanos(now))
                .check_in_transaction(&self.table, link_pk)?;
            request = request.transact_items(check);
        }
        for limit in limits {
            request = request.transact_items(self.counting_within(limit)?);
        }
        let error = match send_transaction(&request).await {
            Ok(_) => return Ok(Ok(Written::Applied(Item::new()))),
            Err(error) => error,
        };
        let reasons = cancellation_reasons(&error);
        let refused = |n: usize| reasons.get(n).filter(|reason| failure(reason) == Some("ConditionalCheckFailed"));
        if let Some(reason) = refused(0) {
            return Ok(Ok(Written::Refused(reason.item().cloned())));
        }
        let first_counter = 1 + usize::from(link_pk.is_some());
        if let Some(link_pk) = link_pk
            && let Some(reason) = refused(1)
        {
            let Some(item) = reason.item().cloned() else {
                return Err(StoreError::Corrupt { key: link_pk, detail: "session of a missing link".into() });
            };
            return match LinkRefusal::before_limit(&from_item(&link_pk, item)?, now) {
                Some(refusal) => Ok(Err(BeginAttempt::LinkRefused(refusal))),
                None => Err(StoreError::Corrupt {
                    key: link_pk,
                    detail: format!(
                        "link check refused: {EXPIRES_AT_NANOS} or {BLOCKED_UNTIL_NANOS} not as their times"
                    ),
                }),
            };
        }
        match limits.iter().enumerate().find(|(n, _)| refused(first_counter + n).is_some()) {
            Some((_, full)) => Ok(Err(BeginAttempt::TooManyAttempts(full.counter.window_end))),
            None => Err(classify_transaction(error, "begin attempt")),
        }
    }

    /// `write` to the session `pk`, ending an attempt, and the counts the attempt took on
    /// `counters` given back in the same transaction (which returns no item: `returning`
    /// applies to a plain `update` only, when there is nothing to give back); refused, with the
    /// session as it is, as `update` is.
    pub(super) async fn update_giving_back(
        &self,
        pk: &str,
        write: &Write,
        counters: &[RateCounter],
        returning: ReturnValue,
    ) -> Result<Written, StoreError> {
        if counters.is_empty() {
            return self.update(pk, write, returning).await;
        }
        let mut request = self.client.transact_write_items().transact_items(write.in_transaction(&self.table, pk)?);
        for counter in counters {
            request = request.transact_items(self.giving_back(counter)?);
        }
        let error = match send_transaction(&request).await {
            Ok(_) => return Ok(Written::Applied(Item::new())),
            Err(error) => error,
        };
        match cancellation_reasons(&error).first() {
            Some(reason) if failure(reason) == Some("ConditionalCheckFailed") => {
                Ok(Written::Refused(reason.item().cloned()))
            }
            _ => Err(classify_transaction(error, "end attempt")),
        }
    }

    /// `complete_payment` when the link is gone: like the embedded store, the session decides
    /// first (an attempt that is over is `SessionChanged`); a live one means a broken link.
    async fn complete_without_link(
        &self,
        session: &SessionId,
        attempt: u32,
        link_pk: String,
    ) -> Result<CompletePayment, StoreError> {
        match self.get_session(session).await? {
            Some(session) => without_link(&session, attempt, link_pk),
            None => Ok(CompletePayment::SessionChanged),
        }
    }
}

/// `complete_payment` when the link is gone, decided on the session as read.
fn without_link(session: &CheckoutSession, attempt: u32, link_pk: String) -> Result<CompletePayment, StoreError> {
    let in_flight = session.in_flight.as_ref().is_some_and(|a| a.number == attempt);
    if session.status == SessionStatus::Pending && in_flight {
        Err(StoreError::Corrupt { key: link_pk, detail: "session of a missing link".into() })
    } else {
        Ok(CompletePayment::SessionChanged)
    }
}

/// Gives back the use `session` holds on a link, if it still holds one.
fn releasing(session: &SessionId) -> Write {
    Write::new("REMOVE #claims.#sid SET #reserved = #reserved - :one", "attribute_exists(#claims.#sid)")
        .alias("#sid", session.as_str())
        .value(":one", number(1))
}

/// `write` to the session at `pk`, if attempt `attempt` is still in flight on it.
fn ending(pk: &str, attempt: u32, write: Write) -> Result<Write, StoreError> {
    Ok(write.value(":pending", status(pk, SessionStatus::Pending)?).value(":attempt", number(attempt)))
}
