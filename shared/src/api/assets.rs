//! Static assets served by the service itself, so CSP can stay `default-src 'self'`.

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};

const CHECKOUT_CSS: &str = include_str!("../../assets/checkout.css");

pub fn stylesheet() -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/css; charset=utf-8")
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .body(Body::Text(CHECKOUT_CSS.to_owned()))
        .expect("static headers are valid")
}
