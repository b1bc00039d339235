//! `GET /pay/{id}`: opens the link (a fresh checkout session) and sends the customer to it.

use lambda_http::{Body, Request, Response};

use super::{Caller, path_parameter, public_base_url, see_other};
use crate::app::App;
use crate::error::ApiError;
use crate::links;

pub async fn handle(request: &Request, app: &App, _: &Caller) -> Result<Response<Body>, ApiError> {
    let store = app.store.as_ref();
    let session = links::open(store, store, path_parameter(request, "id"), app.now()).await?;
    see_other(&format!("{}/checkout/{}", public_base_url(request, app), session.id))
}
