//! `POST /api/payment-links/{id}/deactivate` and `/activate`: takes effect at once.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::views::link_view;
use super::{Caller, json, path_parameter, public_base_url};
use crate::app::App;
use crate::error::ApiError;
use crate::links;

pub async fn deactivate(request: &Request, app: &App, caller: &Caller) -> Result<Response<Body>, ApiError> {
    set_active(request, app, caller, false).await
}

pub async fn activate(request: &Request, app: &App, caller: &Caller) -> Result<Response<Body>, ApiError> {
    set_active(request, app, caller, true).await
}

async fn set_active(request: &Request, app: &App, caller: &Caller, active: bool) -> Result<Response<Body>, ApiError> {
    let id = path_parameter(request, "id");
    let link = links::set_active(app.store.as_ref(), caller.merchant()?, id, active, app.now()).await?;
    let body = json!({ "success": true, "data": link_view(&link, app.now(), &public_base_url(request, app)) });
    Ok(json(StatusCode::OK, &body))
}
