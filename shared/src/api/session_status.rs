//! `GET /api/sessions/{sessionId}`: what a merchant's server checks before fulfilling an
//! order (a success redirect alone can be forged).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::views::session_view;
use super::{Caller, json, path_parameter};
use crate::app::App;
use crate::checkout;
use crate::error::ApiError;

pub async fn handle(request: &Request, app: &App, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let id = path_parameter(request, "sessionId");
    let session = checkout::find_own_session(app.store.as_ref(), caller.merchant()?, id).await?;
    Ok(json(StatusCode::OK, &json!({ "success": true, "data": session_view(&session, app.now()) })))
}
