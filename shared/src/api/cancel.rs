//! `GET /checkout/{sessionId}/cancel`: the customer gives up; back to `cancelUrl`, nothing added.

use lambda_http::{Body, Request, Response};

use super::checkout_page::session_id;
use super::{pages, see_other};
use crate::app::App;
use crate::error::ApiError;
use crate::model::SessionStatus;

pub async fn handle(request: &Request, app: &App) -> Result<Response<Body>, ApiError> {
    let id = session_id(request)?;
    let session = app.store.cancel_session(&id, app.now()).await?.ok_or(ApiError::SessionNotFound)?;
    match session.status {
        // Never let a paid customer believe they cancelled.
        SessionStatus::Completed => Ok(pages::closed_page(&session, app.now())),
        _ => see_other(&session.checkout.cancel_url),
    }
}
