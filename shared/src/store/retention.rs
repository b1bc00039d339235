//! When a stored item may be swept. DynamoDB's TTL attribute and the embedded store's sweep
//! follow these same rules; reads decide expiry by the clock, sweeping only cleans up.

use chrono::{DateTime, TimeDelta, Utc};

use crate::model::{ChargeRecord, CheckoutSession, Event, IdempotencyRecord, PaymentLink};

/// How long after expiry a link or a paid session stays readable: merchants look up old links
/// and verify payments long after the customer left.
pub const RETENTION_AFTER_EXPIRY: TimeDelta = TimeDelta::days(90);

/// How long a session that was never paid (abandoned, expired, cancelled, failed) stays after
/// its expiry: a day for its merchant to look it up. Anyone can open a link, so unpaid sessions
/// must not pile up for 90 days.
pub const UNPAID_SESSION_RETENTION: TimeDelta = TimeDelta::days(1);

pub fn link(link: &PaymentLink) -> DateTime<Utc> {
    link.expires_at + RETENTION_AFTER_EXPIRY
}

pub fn session(session: &CheckoutSession) -> DateTime<Utc> {
    match &session.payment {
        Some(payment) => paid_session(payment.completed_at),
        None => session.expires_at + UNPAID_SESSION_RETENTION,
    }
}

/// A session completed at `completed_at`.
pub fn paid_session(completed_at: DateTime<Utc>) -> DateTime<Utc> {
    completed_at + RETENTION_AFTER_EXPIRY
}

pub fn charge(record: &ChargeRecord) -> DateTime<Utc> {
    record.created_at + RETENTION_AFTER_EXPIRY
}

pub fn idempotency(record: &IdempotencyRecord) -> DateTime<Utc> {
    record.expires_at + RETENTION_AFTER_EXPIRY
}

/// Events are listed for 30 days, for reconciliation.
pub fn event(event: &Event) -> DateTime<Utc> {
    event.created_at + Event::KEPT
}

/// A rate counter whose window ends at `window_end` is worth nothing after it.
pub fn counter(window_end: DateTime<Utc>) -> DateTime<Utc> {
    window_end
}
