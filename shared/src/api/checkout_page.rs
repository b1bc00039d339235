//! `GET /checkout/{sessionId}`: the hosted checkout page, or why it can't be paid.

use lambda_http::{Body, Request, Response};

use super::{Caller, page_base_path, pages, path_parameter};
use crate::app::App;
use crate::checkout;
use crate::error::ApiError;

pub async fn handle(request: &Request, app: &App, _: &Caller) -> Result<Response<Body>, ApiError> {
    let session = checkout::find_session(app.store.as_ref(), path_parameter(request, "sessionId")).await?;
    let base_path = page_base_path(request, &app.config);
    if !session.is_open(app.now()) {
        return pages::closed_session(&base_path, &session, app.now());
    }
    pages::checkout_page(&base_path, &session, &app.config.card_entry, pages::FormState::default())
}
