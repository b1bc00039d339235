//! `GET /api/payment-links/{id}/check-availability`: public, in exactly the seed's shapes.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::{Caller, json, path_parameter};
use crate::app::App;
use crate::error::ApiError;
use crate::links;

pub async fn handle(request: &Request, app: &App, _: &Caller) -> Result<Response<Body>, ApiError> {
    let link = links::find(app.store.as_ref(), path_parameter(request, "id")).await?;
    let body = match link.availability(app.now()) {
        Ok(()) => {
            json!({ "success": true, "available": true, "message": "Payment link is available" })
        }
        Err(reason) => json!({
            "success": false,
            "available": false,
            "error": reason.sentence(),
            "code": reason.code(),
        }),
    };
    // The check itself succeeded either way; `available` carries the answer.
    Ok(json(StatusCode::OK, &body))
}
