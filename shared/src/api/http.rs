//! Reading requests and writing responses as API Gateway shapes them: ids, parameters, the
//! client's address, the base URLs customers are sent to, and the three kinds of answer.

#[cfg(feature = "pages")]
use std::net::IpAddr;

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::app::{App, Config};
use crate::error::ApiError;

/// API Gateway's request id (also set by `paylinks serve`), for correlating logs.
pub fn request_id(request: &Request) -> String {
    match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => {
            context.request_id.clone().unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// A path parameter by name; "" when missing (the route table and handler disagree), which
/// no id parses from, so the answer is "not found".
pub(crate) fn path_parameter<'r>(request: &'r Request, name: &str) -> &'r str {
    request.path_parameters_ref().and_then(|params| params.first(name)).unwrap_or_default()
}

/// The query parameter `name` of a merchant-API request, given at most once: a name given twice
/// (`status=active&status=bogus`) is an error in `errors` and reads as absent, for two readers
/// could take two different values.
pub(crate) fn query_once<'q>(
    query: &'q lambda_http::aws_lambda_events::query_map::QueryMap,
    name: &str,
    errors: &mut Vec<String>,
) -> Option<&'q str> {
    match query.all(name).as_deref() {
        Some([one]) => Some(one),
        Some([_, _, ..]) => {
            errors.push(format!("{name}: must be given only once"));
            None
        }
        _ => None,
    }
}

#[cfg(feature = "pages")]
/// The client's address, as the card-testing limits count it: API Gateway's `sourceIp` (set by
/// `paylinks serve` too), or, behind proxies the deployment trusts, the `X-Forwarded-For` entry
/// that many from the right: each proxy appends the address it saw, so everything to the left
/// of those is whatever the client wrote. Only a parsed IP address counts (a header that is not
/// one falls back to `sourceIp`); an IPv6 client is counted by its /64, which one subscriber
/// usually holds whole.
pub(crate) fn client_ip(request: &Request, app: &App) -> Option<String> {
    let hops = app.config.trusted_proxy_hops;
    let forwarded = (hops > 0)
        .then(|| request.headers().get("x-forwarded-for")?.to_str().ok())
        .flatten()
        .and_then(|header| header.rsplit(',').nth(hops - 1))
        .and_then(|entry| entry.trim().parse::<IpAddr>().ok());
    let source = || match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => {
            context.http.source_ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok())
        }
        _ => None,
    };
    forwarded.or_else(source).map(client_key)
}

/// An address as a limit counts it: IPv4 as it is, IPv6 by its /64 network.
#[cfg(feature = "pages")]
fn client_key(address: IpAddr) -> String {
    match address {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
        IpAddr::V6(v6) => v6.to_canonical().to_string(),
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// The base URL customers are sent to: configured, or the request's own host over https, with
/// the stage when the client's path has it.
pub(crate) fn public_base_url(request: &Request, app: &App) -> String {
    if let Some(url) = &app.config.public_url {
        return url.clone();
    }
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    match stage_in_path(request) {
        Some(stage) => format!("https://{host}/{stage}"),
        None => format!("https://{host}"),
    }
}

/// The path every page's own links start with: that of the public base URL ("" at the root,
/// "/prod" on a named stage), so stylesheets and forms work wherever the service is mounted.
pub(crate) fn page_base_path(request: &Request, config: &Config) -> String {
    match &config.public_url {
        Some(url) => url::Url::parse(url).map(|url| url.path().trim_end_matches('/').to_owned()).unwrap_or_default(),
        None => stage_in_path(request).map(|stage| format!("/{stage}")).unwrap_or_default(),
    }
}

/// The API Gateway stage when the client's path starts with it: a named stage on API Gateway's
/// own domain (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`); a custom domain's
/// API mapping hides it. The raw path is the client's: lambda_http adds the stage to
/// `uri().path()` either way.
fn stage_in_path(request: &Request) -> Option<&str> {
    let Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return None;
    };
    let stage = context.stage.as_deref().filter(|stage| *stage != "$default")?;
    let rest = request.raw_http_path().strip_prefix('/')?.strip_prefix(stage)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(stage)
}

pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(body.to_string()))
        .expect("static headers are valid")
}

#[cfg(feature = "pages")]
pub(crate) fn html(status: StatusCode, page: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Body::Text(page))
        .expect("static headers are valid")
}

#[cfg(feature = "pages")]
pub(crate) fn see_other(location: &str) -> Result<Response<Body>, ApiError> {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .body(Body::Empty)
        .map_err(|e| ApiError::Internal(format!("bad redirect location: {e}")))
}

/// A JSON body is required: `Content-Type: application/json` (any parameters).
pub(crate) fn require_json(request: &Request) -> Result<(), ApiError> {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if media_type.eq_ignore_ascii_case("application/json") { Ok(()) } else { Err(ApiError::UnsupportedMediaType) }
}
