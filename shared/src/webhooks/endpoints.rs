//! Registering, listing and removing a merchant's webhook endpoints.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::addresses::is_public;
use super::signature;
use crate::app::WebhookTargets as Targets;
use crate::error::ApiError;
use crate::model::{Deliveries, Event, EventId, EventType, Merchant, WebhookEndpoint, WebhookEndpointId};
use crate::store::{StoreError, Webhooks};
use crate::validate::ValidationErrors;

const MAX_URL_CHARS: usize = 2048;
const MAX_DESCRIPTION_CHARS: usize = 200;

/// Checks `body` (`{url, events?, description?}`, every bad field at once) and registers the
/// endpoint it describes for `merchant`, with a new secret.
pub async fn create(
    store: &(impl Webhooks + ?Sized),
    merchant: &Merchant,
    body: &[u8],
    targets: Targets,
    now: DateTime<Utc>,
) -> Result<WebhookEndpoint, ApiError> {
    let endpoint = read(body, targets, now).map_err(ValidationErrors)?;
    if !store.add_webhook_endpoint(&merchant.id, &endpoint).await? {
        let full = format!("url: a merchant has at most {} webhook endpoints", WebhookEndpoint::MAX_PER_MERCHANT);
        return Err(ValidationErrors(vec![full]).into());
    }
    Ok(endpoint)
}

/// Removes `merchant`'s endpoint `id`; another merchant's does not exist, as far as this caller
/// can tell.
pub async fn delete(store: &(impl Webhooks + ?Sized), merchant: &Merchant, id: &str) -> Result<(), ApiError> {
    let id: WebhookEndpointId = id.parse().map_err(|_| ApiError::WebhookEndpointNotFound)?;
    match store.remove_webhook_endpoint(&merchant.id, &id).await? {
        true => Ok(()),
        false => Err(ApiError::WebhookEndpointNotFound),
    }
}

/// `merchant`'s endpoint `id`; another merchant's does not exist, as far as this caller can tell.
pub async fn get(store: &(impl Webhooks + ?Sized), merchant: &Merchant, id: &str) -> Result<WebhookEndpoint, ApiError> {
    let id: WebhookEndpointId = id.parse().map_err(|_| ApiError::WebhookEndpointNotFound)?;
    let endpoints = store.webhook_endpoints(&merchant.id).await?;
    endpoints.into_iter().find(|e| e.id == id).ok_or(ApiError::WebhookEndpointNotFound)
}

/// Gives `merchant`'s endpoint `id` a new secret; the old one keeps signing beside it for
/// [`WebhookEndpoint::ROTATION_OVERLAP`].
pub async fn rotate_secret(
    store: &(impl Webhooks + ?Sized),
    merchant: &Merchant,
    id: &str,
    now: DateTime<Utc>,
) -> Result<WebhookEndpoint, ApiError> {
    let current = get(store, merchant, id).await?;
    let rotated = current.rotated(signature::new_secret(), now);
    match store.replace_webhook_endpoint(&merchant.id, &rotated).await? {
        true => Ok(rotated),
        false => Err(ApiError::WebhookEndpointNotFound),
    }
}

/// Sends `merchant`'s event `id` again to every enabled endpoint that wants it, as a new
/// delivery (the same `webhook-id`): due at once, the attempt count started again, the delivery
/// log kept. That includes an endpoint registered after the event (a receiver registered again
/// after it was disabled), which the event's own deliveries never reach. Returns the event and
/// how many endpoints it goes to.
pub async fn redeliver(
    store: &(impl Webhooks + ?Sized),
    merchant: &Merchant,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(Event, usize), ApiError> {
    let id: EventId = id.parse().map_err(|_| ApiError::EventNotFound)?;
    let taking = store.webhook_endpoints(&merchant.id).await?;
    // The dispatcher may record the event between this read and this write: read it again.
    for _ in 0..REDELIVERY_ROUNDS {
        let event =
            store.get_event(&id).await?.filter(|e| e.merchant_id == merchant.id).ok_or(ApiError::EventNotFound)?;
        let taking: Vec<_> = taking.iter().filter(|e| e.takes(event.kind)).collect();
        let mut deliveries: Deliveries =
            event.deliveries.into_iter().map(|(endpoint, delivery)| (endpoint, delivery.restarted())).collect();
        for endpoint in &taking {
            deliveries.entry(endpoint.id.to_string()).or_default();
        }
        let again = Event { due_at: Some(now), deliveries, ..event };
        if store.record_deliveries(&again).await? {
            return Ok((again, taking.len()));
        }
    }
    Err(StoreError::Unavailable("redelivery: the event kept changing; try again".to_owned()).into())
}

/// Reads and writes a redelivery tries before giving up: each lost round is one of the
/// dispatcher's records of the event, a few seconds apart at most.
const REDELIVERY_ROUNDS: usize = 3;

fn read(body: &[u8], targets: Targets, now: DateTime<Utc>) -> Result<WebhookEndpoint, Vec<String>> {
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(body) else {
        return Err(vec!["body: must be a JSON object".to_owned()]);
    };
    let mut errors = crate::validate::repeated_keys(body);
    let url = match fields.remove("url") {
        Some(Value::String(url)) => check_url(&url, targets).map_err(|e| errors.push(format!("url: {e}"))).ok(),
        Some(_) => {
            errors.push("url: must be a string".to_owned());
            None
        }
        None => {
            errors.push("url: is required".to_owned());
            None
        }
    };
    let events = match fields.remove("events") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(kinds)) => {
            let mut events = Vec::new();
            for (index, kind) in kinds.iter().enumerate() {
                match kind.as_str().and_then(EventType::parse) {
                    Some(kind) if !events.contains(&kind) => events.push(kind),
                    Some(_) => errors.push(format!("events[{index}]: is listed twice")),
                    None => {
                        let known: Vec<&str> = EventType::ALL.iter().map(|kind| kind.as_str()).collect();
                        errors.push(format!("events[{index}]: must be one of {}", known.join(", ")));
                    }
                }
            }
            events
        }
        Some(_) => {
            errors.push("events: must be an array of event types".to_owned());
            Vec::new()
        }
    };
    let description = match fields.remove("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.chars().count() <= MAX_DESCRIPTION_CHARS => Some(text),
        Some(Value::String(_)) => {
            errors.push(format!("description: must be at most {MAX_DESCRIPTION_CHARS} characters"));
            None
        }
        Some(_) => {
            errors.push("description: must be a string".to_owned());
            None
        }
    };
    for unknown in fields.keys() {
        errors.push(format!("{unknown}: is not a field of a webhook endpoint"));
    }
    match url {
        Some(url) if errors.is_empty() => Ok(WebhookEndpoint {
            id: WebhookEndpointId::generate(),
            url,
            events,
            description,
            secret: signature::new_secret(),
            previous_secret: None,
            previous_secret_until: None,
            created_at: now,
            failing_since: None,
            disabled_reason: None,
        }),
        _ => Err(errors),
    }
}

/// The URL as it will be called (normalised), or why it cannot be: https to a public host on
/// deployments; http and loopback too for local development.
fn check_url(text: &str, targets: Targets) -> Result<String, String> {
    if text.chars().count() > MAX_URL_CHARS {
        return Err(format!("must be at most {MAX_URL_CHARS} characters"));
    }
    let url = url::Url::parse(text).map_err(|e| format!("is not a URL ({e})"))?;
    let host = url.host_str().filter(|host| !host.is_empty()).ok_or("must have a host")?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password".to_owned());
    }
    match (targets, url.scheme()) {
        (_, "https") | (Targets::Anywhere, "http") => {}
        (Targets::PublicHttps, _) => return Err("must be an https URL".to_owned()),
        (Targets::Anywhere, _) => return Err("must be an http or https URL".to_owned()),
    }
    if targets == Targets::PublicHttps {
        let literal = host.trim_matches(['[', ']']).parse().ok();
        if literal.is_some_and(|ip| !is_public(ip)) || host.eq_ignore_ascii_case("localhost") {
            return Err("must point at a public address".to_owned());
        }
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_take_https_urls_of_public_hosts_only() {
        for (url, why) in [
            ("http://shop.example/hooks", "https"),
            ("https://127.0.0.1/hooks", "public"),
            ("https://[::1]/hooks", "public"),
            ("https://169.254.169.254/latest/meta-data", "public"),
            ("https://10.1.2.3/hooks", "public"),
            ("https://[::ffff:192.168.0.1]/hooks", "public"),
            ("https://localhost/hooks", "public"),
            ("https://user:pw@shop.example/hooks", "password"),
            ("ftp://shop.example/hooks", "https"),
            ("not a url", "URL"),
        ] {
            let refused = check_url(url, Targets::PublicHttps).expect_err(url);
            assert!(refused.contains(why), "{url}: {refused}");
        }
        assert_eq!(
            check_url("https://shop.example/hooks", Targets::PublicHttps).unwrap(),
            "https://shop.example/hooks"
        );
        assert!(check_url("http://127.0.0.1:9000/hooks", Targets::Anywhere).is_ok(), "local development");
    }

    #[test]
    fn every_bad_field_is_named() {
        let now = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        let body = br#"{"url": 5, "events": ["checkout.session.completed", "nope", "checkout.session.completed"], "description": 7, "extra": 1}"#;
        let errors = read(body, Targets::PublicHttps, now).unwrap_err();
        for field in ["url:", "events[1]:", "events[2]:", "description:", "extra:"] {
            assert!(errors.iter().any(|e| e.starts_with(field)), "{field} in {errors:?}");
        }
        let ok = read(
            br#"{"url": "https://shop.example/h", "events": ["checkout.session.completed"]}"#,
            Targets::PublicHttps,
            now,
        );
        let endpoint = ok.unwrap();
        assert_eq!(endpoint.events, vec![EventType::CheckoutSessionCompleted]);
        assert!(endpoint.id.as_str().starts_with("we_") && endpoint.secret.starts_with("whsec_"));
        assert_eq!(read(b"[]", Targets::PublicHttps, now).unwrap_err(), vec!["body: must be a JSON object"]);
        // A key given twice means two things to two parsers: refused, as on create.
        let twice = br#"{"url": "https://a.example/h", "url": "https://b.example/h"}"#;
        assert_eq!(read(twice, Targets::PublicHttps, now).unwrap_err(), vec!["url: must be given only once"]);
    }
}
