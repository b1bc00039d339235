//! `GET /checkout/{sessionId}/cancel`: the customer gives up; back to `cancelUrl`, nothing added.

use lambda_http::{Body, Request, Response};

use super::checkout_page::find_session;
use super::{page_base_path, pages, see_other};
use crate::app::App;
use crate::checkout::pay::{PayOutcome, settle_recorded_charge};
use crate::error::ApiError;
use crate::model::SessionStatus;

pub async fn handle(request: &Request, app: &App) -> Result<Response<Body>, ApiError> {
    let session = find_session(request, app).await?;
    // A lapsed attempt may have charged the card before its process died: settle it first,
    // so a cancel never drops a payment that went through.
    if let Some(attempt) = session.in_flight.as_ref().filter(|a| a.lease_until <= app.now())
        && let Some(PayOutcome::Paid(paid)) = settle_recorded_charge(app, &session, attempt).await?
    {
        return Ok(pages::closed_page(&page_base_path(request, app), &paid, app.now()));
    }
    let session = app.store.cancel_session(&session.id, app.now()).await?.ok_or(ApiError::SessionNotFound)?;
    match session.status {
        // Never let a paid customer believe they cancelled.
        SessionStatus::Completed => Ok(pages::closed_page(&page_base_path(request, app), &session, app.now())),
        _ => see_other(&session.checkout.cancel_url),
    }
}
