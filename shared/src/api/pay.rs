//! `POST /checkout/{sessionId}/pay`: the checkout form. Answers the browser with a redirect
//! to the merchant or the page again; what happens to money is in `checkout::pay`.

use lambda_http::{Body, Request, Response};

use super::checkout_page::checkout_form;
use super::{Caller, client_ip, page_base_path, pages, path_parameter, see_other};
use crate::app::App;
use crate::checkout::redirect::{error_url, success_url};
use crate::checkout::{Cashier, PayForm, PayOutcome};
use crate::error::ApiError;

/// The checkout page's query after a decline: the reason's code (the page says the decline
/// the session recorded), and the amount a donor chose.
pub(crate) const DECLINED: &str = "declined";
pub(crate) const AMOUNT: &str = "amount";

pub async fn handle(request: &Request, app: &App, _: &Caller) -> Result<Response<Body>, ApiError> {
    let id = path_parameter(request, "sessionId");
    let form = PayForm::parse(request.body());
    let base_path = page_base_path(request, &app.config);
    match Cashier::of(app).pay(id, &form, client_ip(request, app).as_deref()).await? {
        PayOutcome::Paid(session) => match &session.payment {
            Some(payment) => see_other(&success_url(&session, payment)),
            None => Err(ApiError::Internal(format!("completed session {id} has no payment"))),
        },
        PayOutcome::TryAgain { session, message } => {
            let state = pages::FormState {
                error: Some(&message),
                declined: None,
                chosen: form.custom_amount.as_deref().or(form.amount.as_deref()),
                cardholder_name: &form.cardholder_name,
                client_secret: None,
            };
            checkout_form(app, &base_path, &session, state).await
        }
        // Post/redirect/get: the page again by GET, saying why, so a reload never posts the
        // form a second time. A donor's amount goes with it; the card never does.
        PayOutcome::Declined { session, reason } => {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair(DECLINED, &reason.code());
            let chosen = form.chosen_amount();
            if let Some(amount) =
                chosen.filter(|amount| crate::checkout::pay::donation_accepts(&session, amount, &app.config.card_entry))
            {
                query.append_pair(AMOUNT, amount);
            }
            see_other(&format!("{base_path}/checkout/{}?{}", session.id, query.finish()))
        }
        PayOutcome::Authenticate { session, client_secret } => {
            let state = pages::FormState { client_secret: Some(&client_secret), ..Default::default() };
            checkout_form(app, &base_path, &session, state).await
        }
        PayOutcome::Failed { session, code } => see_other(&error_url(&session, code)),
        PayOutcome::Closed(session) => pages::closed_session(&base_path, &session, app.now()),
        PayOutcome::LinkUnavailable { session, reason } => {
            let back_url = session.checkout.cancel_url.clone();
            Err(ApiError::LinkStoppedTakingPayments { reason, back_url }.branded(&session.checkout.appearance))
        }
        PayOutcome::InProgress(session) => Err(ApiError::PaymentInProgress.branded(&session.checkout.appearance)),
        // In the merchant's colours like every other page of its checkout.
        PayOutcome::TooManyAttempts { session, retry_after_seconds } => {
            Err(ApiError::TooManyAttempts(retry_after_seconds).branded(&session.checkout.appearance))
        }
    }
}
