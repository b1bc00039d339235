//! `POST /api/webhook-endpoints`, `GET /api/webhook-endpoints`, `GET` and `DELETE
//! /api/webhook-endpoints/{id}`, `GET /api/webhook-endpoints/{id}/deliveries`,
//! `POST /api/webhook-endpoints/{id}/rotate-secret`: where the merchant's events are pushed, and
//! how that went. A secret is shown once, in the answer that made it.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use super::paging::{encode_cursor, page_query};
use super::views::format_timestamp;
use super::{Caller, json, path_parameter, require_json};
use crate::app::App;
use crate::error::ApiError;
use crate::model::{Delivery, Event, EventId, WebhookEndpoint};
use crate::validate::ValidationErrors;
use crate::webhooks::{endpoints, log};

pub async fn create(request: &Request, app: &App, caller: &Caller) -> Result<Response<Body>, ApiError> {
    require_json(request)?;
    let targets = app.config.webhook_targets;
    let endpoint =
        endpoints::create(app.store.as_ref(), caller.merchant()?, request.body(), targets, app.now()).await?;
    let mut data = endpoint_view(&endpoint);
    data["secret"] = json!(endpoint.secret);
    Ok(json(StatusCode::CREATED, &json!({ "success": true, "data": data })))
}

pub async fn list(_: &Request, app: &App, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let endpoints = app.store.webhook_endpoints(&caller.merchant()?.id).await?;
    let data: Vec<Value> = endpoints.iter().map(endpoint_view).collect();
    Ok(json(StatusCode::OK, &json!({ "success": true, "data": data })))
}

pub async fn get(request: &Request, app: &App, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let endpoint = endpoints::get(app.store.as_ref(), caller.merchant()?, path_parameter(request, "id")).await?;
    Ok(json(StatusCode::OK, &json!({ "success": true, "data": endpoint_view(&endpoint) })))
}

/// `?limit=&after=`: the events sent to the endpoint, newest first, each with its attempts.
pub async fn deliveries(request: &Request, app: &App, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let mut errors = Vec::new();
    let (limit, after) = page_query::<EventId>(request, "after", &mut errors);
    if !errors.is_empty() {
        return Err(ValidationErrors(errors).into());
    }
    let id = path_parameter(request, "id");
    let log = log::deliveries(app.store.as_ref(), caller.merchant()?, id, limit, after, app.now()).await?;
    let data: Vec<Value> = log.deliveries.iter().map(|(event, delivery)| delivery_view(event, delivery)).collect();
    let next_cursor = log.next.as_ref().map(|id| encode_cursor(id.as_str()));
    let body = json!({ "success": true, "data": data, "hasMore": next_cursor.is_some(), "nextCursor": next_cursor });
    Ok(json(StatusCode::OK, &body))
}

pub async fn delete(request: &Request, app: &App, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let id = path_parameter(request, "id");
    endpoints::delete(app.store.as_ref(), caller.merchant()?, id).await?;
    Ok(json(StatusCode::OK, &json!({ "success": true, "data": { "id": id, "deleted": true } })))
}

pub async fn rotate_secret(request: &Request, app: &App, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let id = path_parameter(request, "id");
    let endpoint = endpoints::rotate_secret(app.store.as_ref(), caller.merchant()?, id, app.now()).await?;
    let mut data = endpoint_view(&endpoint);
    data["secret"] = json!(endpoint.secret);
    data["previousSecretExpiresAt"] = json!(endpoint.previous_secret_until.map(format_timestamp));
    Ok(json(StatusCode::OK, &json!({ "success": true, "data": data })))
}

/// An endpoint as listed: never its secret.
fn endpoint_view(endpoint: &WebhookEndpoint) -> Value {
    json!({
        "id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events.iter().map(|kind| kind.as_str()).collect::<Vec<_>>(),
        "description": endpoint.description,
        "createdAt": format_timestamp(endpoint.created_at),
        "failingSince": endpoint.failing_since.map(format_timestamp),
        "disabledReason": endpoint.disabled_reason,
    })
}

/// One event's delivery to an endpoint: where it stands, and each attempt.
fn delivery_view(event: &Event, delivery: &Delivery) -> Value {
    let attempts: Vec<Value> = delivery
        .history
        .iter()
        .map(|attempt| {
            json!({
                "attempt": attempt.attempt,
                "attemptedAt": format_timestamp(attempt.at),
                "status": attempt.status,
                "latencyMs": attempt.latency_ms,
                "nextAttemptAt": attempt.next_attempt_at.map(format_timestamp),
            })
        })
        .collect();
    json!({
        "eventId": event.id,
        "eventType": event.kind.as_str(),
        "eventCreatedAt": format_timestamp(event.created_at),
        "delivered": delivery.delivered,
        "nextAttemptAt": delivery.next_attempt_at.map(format_timestamp),
        "attempts": attempts,
    })
}
