//! `GET /api/payment-links/{id}`: one of the merchant's links, with status and usage.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::views::link_view;
use super::{Caller, json, path_parameter, public_base_url};
use crate::app::App;
use crate::error::ApiError;
use crate::links;

pub async fn handle(request: &Request, app: &App, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let link = links::find_own(app.store.as_ref(), caller.merchant()?, path_parameter(request, "id")).await?;
    let body = json!({ "success": true, "data": link_view(&link, app.now(), &public_base_url(request, app)) });
    Ok(json(StatusCode::OK, &body))
}
