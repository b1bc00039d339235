//! `POST /api/payment-links/{id}/deactivate` and `/activate`: takes effect at once. A
//! deactivated link opens no new sessions, and pays on open sessions are refused uncharged.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::get_link::find_own_link;
use super::link_view::link_view;
use super::{json, public_base_url};
use crate::app::App;
use crate::error::ApiError;

pub async fn handle(request: &Request, app: &App, active: bool) -> Result<Response<Body>, ApiError> {
    let link = find_own_link(request, app).await?;
    let link = app.store.set_link_active(&link.id, active, None).await?.ok_or(ApiError::LinkNotFound)?;
    let body = json!({ "success": true, "data": link_view(&link, app.now(), &public_base_url(request, app)) });
    Ok(json(StatusCode::OK, &body))
}
