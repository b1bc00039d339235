//! `GET /assets/{file}`: static assets served by the service itself, so CSP can stay
//! `default-src 'self'`. Compiled into the binary.

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};

use super::{Caller, path_parameter};
use crate::app::App;
use crate::error::ApiError;

const ASSETS: &[(&str, &str, &str)] = &[
    ("checkout.css", "text/css; charset=utf-8", include_str!("../../assets/checkout.css")),
    ("favicon.svg", "image/svg+xml", include_str!("../../assets/favicon.svg")),
    ("checkout-stripe.js", "text/javascript; charset=utf-8", include_str!("../../assets/checkout-stripe.js")),
];

pub async fn handle(request: &Request, _: &App, _: &Caller) -> Result<Response<Body>, ApiError> {
    serve(request)
}

/// The asset the path names; all the assets function needs (see `handle_request_only`).
pub fn serve(request: &Request) -> Result<Response<Body>, ApiError> {
    let file = path_parameter(request, "file");
    let (_, content_type, content) = ASSETS.iter().find(|(name, _, _)| *name == file).ok_or(ApiError::RouteNotFound)?;
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, *content_type)
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(Body::Text((*content).to_owned()))
        .map_err(|e| ApiError::Internal(e.to_string()))
}
