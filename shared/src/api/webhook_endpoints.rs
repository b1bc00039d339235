//! `POST /api/webhook-endpoints`, `GET /api/webhook-endpoints`,
//! `DELETE /api/webhook-endpoints/{id}`, `POST /api/webhook-endpoints/{id}/rotate-secret`: where
//! the merchant's events are pushed. A secret is shown once, in the answer that made it.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use super::views::format_timestamp;
use super::{Caller, json, path_parameter, require_json};
use crate::app::App;
use crate::error::ApiError;
use crate::model::WebhookEndpoint;
use crate::webhooks::endpoints;

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
