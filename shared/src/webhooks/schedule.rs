//! When a failed delivery is tried again: immediately, then after 5 s, 5 min, 30 min, 2 h,
//! 5 h, 10 h and 10 h (about 28 hours in all), each wait stretched by up to a tenth at random
//! so that many deliveries failing together do not all come back together.

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;

/// The wait after each failed attempt, by attempts made so far (1 = after the first).
const WAITS: [TimeDelta; 7] = [
    TimeDelta::seconds(5),
    TimeDelta::minutes(5),
    TimeDelta::minutes(30),
    TimeDelta::hours(2),
    TimeDelta::hours(5),
    TimeDelta::hours(10),
    TimeDelta::hours(10),
];

/// The shortest wait between two attempts.
pub const FIRST_RETRY: TimeDelta = WAITS[0];

/// Attempts a delivery gets before it is given up (it can still be redelivered by hand).
pub const MAX_ATTEMPTS: u32 = WAITS.len() as u32 + 1;

/// When to try again after `attempts` failed attempts, at the earliest `not_before` (a
/// receiver's `Retry-After`); None once the attempts are used up.
pub fn next_attempt(attempts: u32, now: DateTime<Utc>, not_before: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    let wait = *WAITS.get(usize::try_from(attempts).ok()?.checked_sub(1)?)?;
    let jitter = TimeDelta::milliseconds(rand::rng().random_range(0..=wait.num_milliseconds() / 10));
    let scheduled = now + wait + jitter;
    Some(not_before.map_or(scheduled, |at| at.max(scheduled)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_with_jitter_then_stop() {
        let now = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        for (attempts, wait) in (1..).zip(WAITS) {
            let next = next_attempt(attempts, now, None).expect("another attempt");
            assert!(next >= now + wait && next <= now + wait + wait / 10, "after attempt {attempts}: {next}");
        }
        assert_eq!(next_attempt(MAX_ATTEMPTS, now, None), None);
        assert_eq!(MAX_ATTEMPTS, 8);
    }

    #[test]
    fn a_retry_after_later_than_the_schedule_is_honoured() {
        let now = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        let later = now + TimeDelta::minutes(2);
        assert_eq!(next_attempt(1, now, Some(later)), Some(later));
        let sooner = now + TimeDelta::seconds(1);
        assert!(next_attempt(1, now, Some(sooner)).unwrap() >= now + TimeDelta::seconds(5));
    }
}
