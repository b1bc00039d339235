//! `GET /checkout/{sessionId}`: the hosted checkout page, or why it can't be paid.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use super::{page_base_path, pages, path_parameter};
use crate::app::App;
use crate::error::ApiError;
use crate::model::{CheckoutSession, SessionId};

pub async fn handle(request: &Request, app: &App) -> Result<Response<Body>, ApiError> {
    let session = find_session(request, app).await?;
    let base_path = page_base_path(request, app);
    if !session.is_open(app.now()) {
        return Ok(pages::closed_page(&base_path, &session, app.now()));
    }
    pages::checkout_page(&base_path, &session, StatusCode::OK, None, None, "")
}

/// The session named by the `{sessionId}` path parameter; malformed ids are not found.
pub(crate) async fn find_session(request: &Request, app: &App) -> Result<CheckoutSession, ApiError> {
    let id = session_id(request)?;
    app.store.get_session(&id).await?.ok_or(ApiError::SessionNotFound)
}

pub(crate) fn session_id(request: &Request) -> Result<SessionId, ApiError> {
    path_parameter(request, "sessionId").and_then(|id| id.parse().ok()).ok_or(ApiError::SessionNotFound)
}
