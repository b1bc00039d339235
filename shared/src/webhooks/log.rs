//! The delivery log of one endpoint (`GET /api/webhook-endpoints/{id}/deliveries`): the events
//! it was sent, newest first, each with its attempts. The log lives in the events themselves
//! (each event keeps its deliveries, [`Delivery::history`]), so it is read from the merchant's
//! events of the last 30 days — no second record is written per attempt.

use chrono::{DateTime, Utc};

use super::endpoints;
use crate::error::ApiError;
use crate::model::{Delivery, Event, EventId, Merchant};
use crate::store::{Events, Webhooks};

/// Events read per store page while looking for the endpoint's deliveries.
const EVENTS_PER_READ: usize = 100;

/// Store pages read per request at most: a page of the log can come back short (even empty,
/// with a cursor) when the endpoint was sent few of the merchant's many events.
const READS_PER_REQUEST: usize = 5;

/// One page of an endpoint's delivery log.
#[derive(Debug)]
pub struct DeliveryLog {
    /// The events sent to the endpoint, newest first, each with its delivery to it.
    pub deliveries: Vec<(Event, Delivery)>,
    /// Pass as `after` for the next page; None when this page is the last.
    pub next: Option<EventId>,
}

/// Up to `limit` deliveries of `merchant`'s endpoint `id`, of events older than `after`.
pub async fn deliveries(
    store: &(impl Webhooks + Events + ?Sized),
    merchant: &Merchant,
    id: &str,
    limit: usize,
    after: Option<EventId>,
    now: DateTime<Utc>,
) -> Result<DeliveryLog, ApiError> {
    let endpoint = endpoints::get(store, merchant, id).await?;
    let mut deliveries = Vec::with_capacity(limit);
    let mut read_from = after.clone();
    // Where the caller's next page starts: the last event shown, or passed over as not sent.
    let mut resume = after;
    for _ in 0..READS_PER_REQUEST {
        let page = store.list_events(&merchant.id, None, EVENTS_PER_READ, read_from.as_ref(), now).await?;
        for event in page.events {
            let full = deliveries.len() == limit;
            let Some(delivery) = event.deliveries.get(endpoint.id.as_str()).cloned() else {
                if !full {
                    resume = Some(event.id.clone());
                }
                continue;
            };
            if full {
                return Ok(DeliveryLog { deliveries, next: resume });
            }
            resume = Some(event.id.clone());
            deliveries.push((event, delivery));
        }
        match page.next {
            None => return Ok(DeliveryLog { deliveries, next: None }),
            next => read_from = next,
        }
    }
    Ok(DeliveryLog { deliveries, next: resume })
}
