//! Delivering due events: each to every endpoint of its merchant that wants it, a POST signed
//! per Standard Webhooks with the same `webhook-id` on every attempt. A 2xx within 15 s is
//! delivered; anything else (a redirect included) is tried again on the schedule, after the
//! receiver's `Retry-After` when it sends one (429, 503).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::addresses::is_public;
use super::{schedule, signature};
use crate::model::{EventId, WebhookEndpoint};
use crate::store::{StoreError, Webhooks};

/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Events taken from the outbox per round.
const BATCH: usize = 50;

/// Where deliveries may go: with `PublicHttps`, a name that resolves to 127.0.0.1, 10.x,
/// 169.254.169.254… is refused on the addresses actually connected to.
pub use crate::app::WebhookTargets as Targets;

/// The HTTP client deliveries go out on.
pub struct Sender {
    http: reqwest::Client,
    targets: Targets,
}

/// What one attempt got: the status, and when the receiver asked to be tried again.
struct Answer {
    status: Option<u16>,
    retry_after: Option<DateTime<Utc>>,
}

impl Sender {
    pub fn new(targets: Targets) -> Result<Sender, String> {
        let mut builder = reqwest::Client::builder()
            .timeout(TIMEOUT)
            // A redirect is an answer, and a failure: never followed to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("paylinks-webhooks/1");
        if targets == Targets::PublicHttps {
            builder = builder.https_only(true).dns_resolver(Arc::new(PublicAddressesOnly));
        }
        let http = builder.build().map_err(|e| format!("webhook HTTP client: {e}"))?;
        Ok(Sender { http, targets })
    }

    pub fn targets(&self) -> Targets {
        self.targets
    }

    async fn send(&self, endpoint: &WebhookEndpoint, event: &EventId, body: &str, now: DateTime<Utc>) -> Answer {
        let failed = Answer { status: None, retry_after: None };
        let Ok(url) = reqwest::Url::parse(&endpoint.url) else { return failed };
        // An address written in the URL is never resolved, so it is checked here.
        let literal = url.host_str().and_then(|host| host.trim_matches(['[', ']']).parse::<IpAddr>().ok());
        if self.targets == Targets::PublicHttps && literal.is_some_and(|ip| !is_public(ip)) {
            return failed;
        }
        // When the request leaves, by the wall clock: the receiver checks it against its own
        // to refuse replays (`now` is when the attempt was due, which may be earlier).
        let timestamp = Utc::now().timestamp();
        let id = event.as_str();
        let request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature::sign_all(&endpoint.signing_secrets(now), id, timestamp, body))
            .body(body.to_owned());
        match request.send().await {
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|value| value.to_str().ok()?.trim().parse::<i64>().ok())
                    .map(|seconds| now + TimeDelta::seconds(seconds.clamp(0, 86_400)));
                Answer { status: Some(response.status().as_u16()), retry_after }
            }
            Err(_) => failed,
        }
    }
}

/// Delivers what is due at `now`; returns how many attempts were made. Store errors stop the
/// round (the outbox keeps everything for the next one).
///
/// One receiver must not hold up the others (the dispatcher runs one at a time, unless a
/// deployment lifts that: `WebhookDispatcherOneAtATime`): an event's
/// attempts to its endpoints go out together, and an endpoint that does not answer at all
/// (down, or silent until the timeout) is tried once per round, its other deliveries due in
/// the round waiting for its next try. One that answers, even with an error, gets each event:
/// it may refuse only some.
pub async fn deliver_due(
    store: &(impl Webhooks + ?Sized),
    sender: &Sender,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    Ok(round(store, sender, now).await?.attempts)
}

/// What one round did: events taken from the outbox, and attempts made on them.
struct Round {
    events: usize,
    attempts: usize,
}

async fn round(store: &(impl Webhooks + ?Sized), sender: &Sender, now: DateTime<Utc>) -> Result<Round, StoreError> {
    let mut attempts = 0;
    // Each merchant's endpoints, read once per round (and kept as their health changes).
    let mut endpoints_of: HashMap<String, Vec<WebhookEndpoint>> = HashMap::new();
    // Endpoints that did not answer this round, with when they are tried next.
    let mut silent: HashMap<String, DateTime<Utc>> = HashMap::new();
    let due = store.due_events(now, BATCH).await?;
    let events = due.len();
    for mut event in due {
        let endpoints = match endpoints_of.entry(event.merchant_id.clone()) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(unknown) => unknown.insert(store.webhook_endpoints(&event.merchant_id).await?),
        };
        let body = event.to_json().to_string();
        // Endpoints registered after the event happened do not get it (as with Stripe) unless
        // it was redelivered to them; disabled ones get nothing.
        let mut to_try = Vec::new();
        for (index, endpoint) in endpoints.iter().enumerate() {
            let redelivered = event.deliveries.contains_key(endpoint.id.as_str());
            if !endpoint.takes(event.kind) || (endpoint.created_at > event.created_at && !redelivered) {
                continue;
            }
            let delivery = event.deliveries.entry(endpoint.id.to_string()).or_default();
            let waiting = delivery.next_attempt_at.is_some_and(|at| at > now);
            let given_up = delivery.attempts > 0 && delivery.next_attempt_at.is_none();
            if delivery.delivered || waiting || given_up {
                continue;
            }
            match silent.get(endpoint.id.as_str()) {
                Some(next_try) => delivery.next_attempt_at = Some(*next_try),
                None => to_try.push(index),
            }
        }
        let (listed, id, body) = (&*endpoints, &event.id, &body);
        let sends = to_try.iter().map(|&index| async move {
            let started = std::time::Instant::now();
            let answer = sender.send(&listed[index], id, body, now).await;
            (answer, u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX))
        });
        let answers = futures_util::future::join_all(sends).await;
        for (index, (answer, latency_ms)) in to_try.into_iter().zip(answers) {
            let endpoint = &mut endpoints[index];
            let delivery = event.deliveries.entry(endpoint.id.to_string()).or_default();
            attempts += 1;
            delivery.record_attempt(now, answer.status, latency_ms, |made| {
                schedule::next_attempt(made, now, answer.retry_after)
            });
            if answer.status.is_none() {
                let next_try = delivery.next_attempt_at.unwrap_or(now + schedule::FIRST_RETRY);
                silent.insert(endpoint.id.to_string(), next_try);
            }
            // The endpoint's health: failing since, recovered, or disabled after failing too long.
            if let Some(changed) = endpoint.after_attempt(delivery.delivered, answer.status, now) {
                if let Some(reason) = &changed.disabled_reason {
                    tracing::warn!(endpoint_id = %endpoint.id, reason, "webhook endpoint disabled");
                }
                store.record_webhook_endpoint_health(&event.merchant_id, &changed).await?;
                *endpoint = changed;
            }
            tracing::info!(
                event_id = %event.id,
                endpoint_id = %endpoint.id,
                attempt = delivery.attempts,
                status = answer.status,
                latency_ms,
                delivered = delivery.delivered,
                next_attempt_at = ?delivery.next_attempt_at,
                "webhook delivery"
            );
        }
        // Due again at the earliest retry of an endpoint that still takes deliveries; done otherwise.
        let existing = |id: &String| {
            endpoints.iter().any(|endpoint| endpoint.id.as_str() == id && endpoint.disabled_reason.is_none())
        };
        event.due_at = event
            .deliveries
            .iter()
            .filter(|(id, delivery)| existing(id) && !delivery.delivered)
            .filter_map(|(_, delivery)| delivery.next_attempt_at)
            .min();
        if !store.record_deliveries(&event).await? {
            // Redelivered (or recorded by another dispatcher) while this round was sending: that
            // record stands, and what was sent here is sent again under the same webhook-id.
            tracing::info!(event_id = %event.id, "webhook event changed during its round; its newer record kept");
        }
    }
    Ok(Round { events, attempts })
}

/// Resolves names to their public addresses only; a name with none fails to connect.
struct PublicAddressesOnly;

impl Resolve for PublicAddressesOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let public: Vec<SocketAddr> = resolved.filter(|address| is_public(address.ip())).collect();
            if public.is_empty() {
                return Err(format!("{} resolves to no public address", name.as_str()).into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// Rounds of [`deliver_due`] one wake-up of the dispatcher makes at most: a backlog is worked
/// through in batches, and what is left waits for the next wake-up.
const ROUNDS_PER_WAKE_UP: usize = 20;

/// The dispatcher's wake-up (a `paylinks serve` tick; on AWS, a DynamoDB Streams batch of new
/// events or the one-minute schedule of retries — the stream only rings the bell, the outbox
/// says what is due): delivers until nothing is due or the rounds are used up.
pub async fn deliver_all_due(
    store: &(impl Webhooks + ?Sized),
    sender: &Sender,
    now: impl Fn() -> DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut attempts = 0;
    for _ in 0..ROUNDS_PER_WAKE_UP {
        let round = round(store, sender, now()).await?;
        attempts += round.attempts;
        // A short batch was all that was due. A full one may have more behind it, even when it
        // needed no attempt (events of merchants without endpoints are only marked done).
        if round.events < BATCH {
            break;
        }
    }
    Ok(attempts)
}
