//! `GET /pay/{id}`: opens the link (a fresh checkout session) and sends the customer to it.

use lambda_http::{Body, Request, Response};

use super::{Caller, client_ip, path_parameter, public_base_url, see_other};
use crate::app::App;
use crate::error::ApiError;
use crate::links;

pub async fn handle(request: &Request, app: &App, _: &Caller) -> Result<Response<Body>, ApiError> {
    let client = client_ip(request, app);
    let limit = app.config.opens_per_client_per_minute;
    let session =
        links::open(app.store.as_ref(), path_parameter(request, "id"), client.as_deref(), limit, app.now()).await?;
    see_other(&format!("{}/checkout/{}", public_base_url(request, app), session.id))
}
