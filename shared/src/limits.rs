//! Per-minute request limits shared by every instance: a counter per key and minute in the
//! store, swept when its minute is over.

use chrono::{DateTime, Utc};

use crate::error::ApiError;
use crate::store::Counters;

/// Counts one request under `key` in the minute `now` falls in; `RateLimited` (429, with the
/// seconds left in the minute) once more than `limit` were counted there.
pub async fn count_per_minute(
    counters: &(impl Counters + ?Sized),
    key: &str,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let minute = now.timestamp().div_euclid(60);
    let window_end = DateTime::from_timestamp((minute + 1) * 60, 0).unwrap_or(now);
    let requests = counters.increment_counter(&format!("{key}:{minute}"), window_end).await?;
    if requests > limit {
        let retry_after = u64::try_from((window_end - now).num_seconds().max(1)).unwrap_or(1);
        return Err(ApiError::RateLimited(retry_after));
    }
    Ok(())
}
