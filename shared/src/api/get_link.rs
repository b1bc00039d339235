//! `GET /api/payment-links/{id}`: one of the merchant's links, with status and usage.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::check_availability::find_link;
use super::link_view::link_view;
use super::{json, public_base_url};
use crate::app::App;
use crate::auth::authenticate;
use crate::error::ApiError;
use crate::model::PaymentLink;

pub async fn handle(request: &Request, app: &App) -> Result<Response<Body>, ApiError> {
    let link = find_own_link(request, app).await?;
    let body = json!({ "success": true, "data": link_view(&link, app.now(), &public_base_url(request, app)) });
    Ok(json(StatusCode::OK, &body))
}

/// The link named in the path, if it belongs to the merchant whose keys are on the request.
/// Another merchant's link is "not found": an id's existence is not confirmed to strangers.
pub(crate) async fn find_own_link(request: &Request, app: &App) -> Result<PaymentLink, ApiError> {
    let merchant = authenticate(request, app).await?;
    let link = find_link(request, app).await?;
    if link.merchant_id == merchant.id { Ok(link) } else { Err(ApiError::LinkNotFound) }
}
