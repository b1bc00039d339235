//! `GET /checkout/{sessionId}`: the hosted checkout page, or why it can't be paid.

use lambda_http::{Body, Request, RequestExt, Response};

use super::{Caller, page_base_path, pages, path_parameter, pay};
use crate::app::App;
use crate::checkout;
use crate::error::ApiError;
use crate::model::CheckoutSession;

pub async fn handle(request: &Request, app: &App, _: &Caller) -> Result<Response<Body>, ApiError> {
    let session = checkout::find_session(app.store.as_ref(), path_parameter(request, "sessionId")).await?;
    let base_path = page_base_path(request, &app.config);
    if !session.is_open(app.now()) {
        return pages::closed_session(&base_path, &session, app.now());
    }
    // Back from a declined pay (see `pay`): say why — the decline the session recorded, never
    // what a URL claims — and keep a donor's amount if the form would take it.
    let query = request.query_string_parameters();
    let declined = query.first(pay::DECLINED).and(session.last_decline);
    let chosen = query
        .first(pay::AMOUNT)
        .filter(|amount| checkout::pay::donation_accepts(&session, amount, &app.config.card_entry));
    let state = pages::FormState { declined, chosen, ..Default::default() };
    checkout_form(app, &base_path, &session, state).await
}

/// The checkout form of `session`, with its cart's lines, which an itemised cart's session
/// reads from its link (one more read, for such carts only).
pub(crate) async fn checkout_form(
    app: &App,
    base_path: &str,
    session: &CheckoutSession,
    state: pages::FormState<'_>,
) -> Result<Response<Body>, ApiError> {
    let items = checkout::cart_items(app.store.as_ref(), session).await?;
    pages::checkout_page(base_path, session, &items, &app.config.card_entry, state)
}
