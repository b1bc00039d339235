//! `GET /checkout/{sessionId}/cancel`: the customer gives up; back to `cancelUrl`, nothing added.

use lambda_http::{Body, Request, Response};

use super::{Caller, page_base_path, pages, path_parameter, see_other};
use crate::app::App;
use crate::checkout::{Cancelled, Cashier};
use crate::error::ApiError;

pub async fn handle(request: &Request, app: &App, _: &Caller) -> Result<Response<Body>, ApiError> {
    match Cashier::of(app).cancel(path_parameter(request, "sessionId")).await? {
        Cancelled::Cancelled(session) => see_other(&session.checkout.cancel_url),
        Cancelled::AlreadyPaid(session) => {
            pages::closed_session(&page_base_path(request, &app.config), &session, app.now())
        }
    }
}
