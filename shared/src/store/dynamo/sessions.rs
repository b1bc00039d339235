//! Checkout sessions: created once, read strongly consistent, cancelled while not being paid.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::codec::{event_item, status, stored, to_item, with_ttl};
use super::errors::{cancellation_reasons, classify_transaction, contention, failure, send_transaction};
use super::write::{Write, put_new_request};
use super::{DECISION_ROUNDS, DynamoStore, Written, from_item, number};
use crate::model::{CheckoutSession, Event, SessionId, SessionStatus};
use crate::store::{CounterLimit, Sessions, StoreError, keys, retention};

/// A new session's item, with the TTL that sweeps it.
fn session_item(session: &CheckoutSession) -> super::Item {
    with_ttl(to_item(keys::session(&session.id), session), retention::session(session))
}

#[async_trait]
impl Sessions for DynamoStore {
    async fn create_session(&self, session: &CheckoutSession) -> Result<(), StoreError> {
        self.put_new(session_item(session), "session exists").await
    }

    async fn create_session_within(&self, session: &CheckoutSession, limit: &CounterLimit) -> Result<bool, StoreError> {
        // One request: the session put and the count on the limit's counter together.
        let request = self
            .client
            .transact_write_items()
            .transact_items(put_new_request(&self.table, session_item(session))?)
            .transact_items(self.counting_within(limit)?);
        let error = match send_transaction(&request).await {
            Ok(_) => return Ok(true),
            Err(error) => error,
        };
        let reasons = cancellation_reasons(&error);
        let refused = |n: usize| reasons.get(n).and_then(failure) == Some("ConditionalCheckFailed");
        match (refused(0), refused(1)) {
            (true, _) => Err(StoreError::Conflict("session exists")),
            (false, true) => Ok(false),
            (false, false) => Err(classify_transaction(error, "create session")),
        }
    }

    async fn get_session(&self, id: &SessionId) -> Result<Option<CheckoutSession>, StoreError> {
        self.get(keys::session(id)).await
    }

    async fn cancel_session(
        &self,
        session: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<CheckoutSession>, StoreError> {
        let pk = keys::session(session);
        let Some(mut item) = self.get_item(&pk).await? else { return Ok(None) };
        for _ in 0..DECISION_ROUNDS {
            let session: CheckoutSession = from_item(&pk, item.clone())?;
            let being_paid = session.in_flight.as_ref().is_some_and(|attempt| attempt.lease_until > now);
            if !session.is_open(now) || being_paid {
                return Ok(Some(session));
            }
            // Cancel only the session as read: unexpired, pending, and not being paid.
            let not_being_paid = match session.in_flight {
                None => "attribute_not_exists(#inFlight)",
                Some(_) => "#inFlight.#number = :number AND #inFlight.#leaseUntil = :lapsedLease",
            };
            let mut write = Write::new(
                "SET #status = :cancelled REMOVE #inFlight",
                format!("#status = :pending AND #expiresAt = :expiresAt AND {not_being_paid}"),
            )
            .value(":pending", status(&pk, SessionStatus::Pending)?)
            .value(":cancelled", status(&pk, SessionStatus::Cancelled)?)
            .value(":expiresAt", stored(&pk, &item, &["expiresAt"])?);
            if let Some(lapsed) = &session.in_flight {
                write = write
                    .value(":number", number(lapsed.number))
                    .value(":lapsedLease", stored(&pk, &item, &["inFlight", "leaseUntil"])?);
            }
            // A lapsed attempt ends here without a charge (the caller settled any it made): the
            // counts it took on its counters go back with it.
            let counters = session.in_flight.as_ref().map_or(&[][..], |lapsed| &lapsed.counters[..]);
            match self.update_giving_back(&pk, &write, counters, ReturnValue::AllNew).await? {
                // (The transaction returns nothing: the session is the one read, as written.)
                Written::Applied(cancelled) if cancelled.is_empty() => {
                    let cancelled = CheckoutSession { status: SessionStatus::Cancelled, in_flight: None, ..session };
                    return Ok(Some(cancelled));
                }
                Written::Applied(cancelled) => return from_item(&pk, cancelled).map(Some),
                Written::Refused(Some(current)) => item = current,
                Written::Refused(None) => return Ok(None),
            }
        }
        Err(contention("cancel_session"))
    }

    async fn mark_refunded(
        &self,
        session: &SessionId,
        transaction_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<CheckoutSession>, StoreError> {
        let pk = keys::session(session);
        let Some(item) = self.get_item(&pk).await? else { return Ok(None) };
        let current: CheckoutSession = from_item(&pk, item)?;
        let paid_by_it = current.payment.as_ref().is_some_and(|p| p.transaction_id == transaction_id);
        if current.status != SessionStatus::Completed || !paid_by_it {
            return Ok(Some(current));
        }
        // One transaction decides: only the completed session this payment paid, with its event.
        let refunded = CheckoutSession { status: SessionStatus::Refunded, ..current };
        let write =
            Write::new("SET #status = :refunded", "#status = :completed AND #payment.#transactionId = :transactionId")
                .value(":completed", status(&pk, SessionStatus::Completed)?)
                .value(":refunded", status(&pk, SessionStatus::Refunded)?)
                .value(":transactionId", AttributeValue::S(transaction_id.to_owned()));
        let event = Event::session_refunded(&refunded, now);
        let request = self
            .client
            .transact_write_items()
            .transact_items(write.in_transaction(&self.table, &pk)?)
            .transact_items(put_new_request(&self.table, event_item(&event))?);
        match send_transaction(&request).await {
            Ok(_) => Ok(Some(refunded)),
            // Refunded meanwhile (Stripe retried its event): the session as it now is.
            Err(error) if cancellation_reasons(&error).first().and_then(failure) == Some("ConditionalCheckFailed") => {
                self.get_session(session).await
            }
            Err(error) => Err(classify_transaction(error, "refund")),
        }
    }
}
