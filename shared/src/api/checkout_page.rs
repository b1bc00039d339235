//! `GET /checkout/{sessionId}`: the hosted checkout page.
//! Until the payment form lands this shows what the customer is about to pay.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use super::{html, pages, path_parameter};
use crate::app::App;
use crate::error::ApiError;
use crate::model::SessionId;

pub async fn handle(request: &Request, app: &App) -> Result<Response<Body>, ApiError> {
    let id = path_parameter(request, "sessionId")
        .and_then(|id| id.parse::<SessionId>().ok())
        .ok_or(ApiError::SessionNotFound)?;
    let session = app.store.get_session(&id).await?.ok_or(ApiError::SessionNotFound)?;
    Ok(html(StatusCode::OK, pages::checkout_summary(&session)?))
}
