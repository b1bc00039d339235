//! `POST /checkout/{sessionId}/pay`: the checkout form. Answers the browser with a redirect
//! to the merchant or the page again; what happens to money is in `checkout::pay`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use super::checkout_page::session_id;
use super::{client_ip, page_base_path, pages, see_other};
use crate::app::App;
use crate::checkout::pay::{PayForm, PayOutcome, pay};
use crate::checkout::redirect::{error_url, success_url};
use crate::error::ApiError;

pub async fn handle(request: &Request, app: &App) -> Result<Response<Body>, ApiError> {
    let id = session_id(request)?;
    let form = PayForm::parse(request.body());
    let base_path = page_base_path(request, app);
    match pay(app, &id, &form, client_ip(request, app).as_deref()).await? {
        PayOutcome::Paid(session) => match &session.payment {
            Some(payment) => see_other(&success_url(&session, payment)),
            None => Err(ApiError::Internal(format!("completed session {id} has no payment"))),
        },
        PayOutcome::TryAgain { session, message } => pages::checkout_page(
            &base_path,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(&message),
            form.custom_amount.as_deref().or(form.amount.as_deref()),
            &form.cardholder_name,
        ),
        PayOutcome::Failed { session, code } => see_other(&error_url(&session, code)),
        PayOutcome::Closed(session) => Ok(pages::closed_page(&base_path, &session, app.now())),
        PayOutcome::LinkUnavailable { session, reason } => {
            Ok(pages::link_unavailable_page(&base_path, &session, reason))
        }
        PayOutcome::InProgress(_) => Ok(pages::in_progress_page(&base_path)),
        PayOutcome::TooManyAttempts { retry_after_seconds } => {
            Ok(pages::too_many_attempts_page(&base_path, retry_after_seconds))
        }
    }
}
