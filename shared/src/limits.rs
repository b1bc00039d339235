//! Per-minute request limits shared by every instance: a counter per key and minute in the
//! store, swept when its minute is over.

use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::seconds_until;
use crate::error::ApiError;
use crate::model::RateCounter;
use crate::store::Counters;

/// Counts one request under `key` in the minute `now` falls in; `RateLimited` (429, with the
/// seconds left in the minute) once more than `limit` were counted there.
pub async fn count_per_minute(
    counters: &(impl Counters + ?Sized),
    key: &str,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let counter = RateCounter::in_window(key, now, TimeDelta::minutes(1));
    let requests = counters.increment_counter(&counter.name, counter.window_end).await?;
    if requests > limit {
        return Err(ApiError::RateLimited(seconds_until(counter.window_end, now)));
    }
    Ok(())
}
