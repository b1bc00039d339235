//! `GET /pay/{id}`: every open creates a fresh checkout session and sends the customer to it.
//! Opening never consumes a use (link-preview bots open links too).

use lambda_http::{Body, Request, Response};

use super::check_availability::find_link;
use super::{public_base_url, see_other};
use crate::app::App;
use crate::error::ApiError;
use crate::model::CheckoutSession;

pub async fn handle(request: &Request, app: &App) -> Result<Response<Body>, ApiError> {
    let link = find_link(request, app).await?;
    let now = app.now();
    link.availability(now).map_err(ApiError::LinkUnavailable)?;
    let session = CheckoutSession::open(&link, now);
    app.store.create_session(&session).await?;
    see_other(&format!("{}/checkout/{}", public_base_url(request, app), session.id))
}
