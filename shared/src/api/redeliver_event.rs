//! `POST /api/events/{id}/redeliver`: the event again, to every endpoint that wants it (a
//! receiver that lost it, or was fixed after its retries ran out).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::{Caller, json, path_parameter};
use crate::app::App;
use crate::error::ApiError;
use crate::webhooks::endpoints;

pub async fn handle(request: &Request, app: &App, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let id = path_parameter(request, "id");
    let (event, endpoints) = endpoints::redeliver(app.store.as_ref(), caller.merchant()?, id, app.now()).await?;
    let data = json!({ "id": event.id, "redelivery": "scheduled", "endpoints": endpoints });
    Ok(json(StatusCode::ACCEPTED, &json!({ "success": true, "data": data })))
}
