//! The time source, so tests can move time (expiry, leases, windows) without sleeping.

use chrono::{DateTime, TimeDelta, Utc};

/// The fixed window of `length` that `now` falls in (windows start at the epoch): its number
/// and when it ends. Rate counters are named by it, so every instance counts in the same one.
pub fn fixed_window(now: DateTime<Utc>, length: TimeDelta) -> (i64, DateTime<Utc>) {
    let seconds = length.num_seconds().max(1);
    let index = now.timestamp().div_euclid(seconds);
    let end = DateTime::from_timestamp((index + 1) * seconds, 0).unwrap_or(now);
    (index, end)
}

/// Whole seconds from `now` to `until`, at least 1: a `Retry-After`.
pub fn seconds_until(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    u64::try_from((until - now).num_seconds().max(1)).unwrap_or(1)
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told: for tests and benchmarks that need expiry without
/// waiting.
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(std::sync::Mutex::new(start))
    }

    pub fn advance(&self, by: chrono::TimeDelta) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_fixed_and_end_on_their_boundary() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let ten_minutes = TimeDelta::minutes(10);
        let (a, end_a) = fixed_window(at("2026-03-01T09:00:00Z"), ten_minutes);
        let (b, end_b) = fixed_window(at("2026-03-01T09:09:59Z"), ten_minutes);
        let (c, _) = fixed_window(at("2026-03-01T09:10:00Z"), ten_minutes);
        assert_eq!((a, end_a), (b, end_b));
        assert_eq!(c, a + 1);
        assert_eq!(end_a, at("2026-03-01T09:10:00Z"));
    }
}
