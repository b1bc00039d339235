//! `GET /api/payment-links/{id}/check-availability`: public, in exactly the seed's shapes.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::{json, path_parameter};
use crate::app::App;
use crate::error::ApiError;
use crate::model::{LinkId, PaymentLink};

pub async fn handle(request: &Request, app: &App) -> Result<Response<Body>, ApiError> {
    let link = find_link(request, app).await?;
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

/// The link named by the `{id}` path parameter; malformed ids are simply not found.
pub(crate) async fn find_link(request: &Request, app: &App) -> Result<PaymentLink, ApiError> {
    let id = path_parameter(request, "id").and_then(|id| id.parse::<LinkId>().ok()).ok_or(ApiError::LinkNotFound)?;
    app.store.get_link(&id).await?.ok_or(ApiError::LinkNotFound)
}
