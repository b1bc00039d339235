//! The HTTP layer, and only that: each endpoint module reads what its request carries, calls
//! the domain (`links`, `checkout`) and writes the answer. Who may call a route is declared
//! in `ROUTES` and checked here, once, before any handler runs; an `ApiError` becomes a
//! response in exactly one place, `error_response`; every request gets the security headers
//! and one log line.

use std::pin::Pin;
use std::time::Instant;

use lambda_http::http::{HeaderValue, header};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::app::{App, Config};
use crate::auth::authenticate;
use crate::error::ApiError;
use crate::model::Merchant;

pub mod assets;
#[cfg(feature = "pages")]
pub mod cancel;
pub mod check_availability;
#[cfg(feature = "pages")]
pub mod checkout_page;
pub mod create;
pub mod get_link;
pub mod handlers;
mod http;
pub mod list_events;
pub mod list_links;
#[cfg(feature = "pages")]
pub mod open_link;
#[cfg(feature = "pages")]
mod pages;
mod paging;
#[cfg(feature = "pages")]
pub mod pay;
#[cfg(feature = "qr")]
pub mod qr;
#[cfg(feature = "webhooks")]
pub mod redeliver_event;
mod router;
mod routes;
pub mod session_status;
pub mod set_active;
#[cfg(feature = "stripe")]
pub mod stripe_webhook;
mod views;
#[cfg(feature = "webhooks")]
pub mod webhook_endpoints;

pub use http::request_id;
#[cfg(feature = "pages")]
pub(crate) use http::{client_ip, html, see_other};
pub(crate) use http::{json, page_base_path, path_parameter, public_base_url, require_json};
pub use router::{ResolvedRoute, resolve};
pub use routes::{Access, Endpoint, ROUTES, Route};

/// Bodies above this are refused with 413 before anything parses them.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Who a route admitted, as its `Access` requires.
#[derive(Debug)]
pub enum Caller {
    /// A public or customer route: no identity is needed.
    Anyone,
    /// A merchant route: the merchant whose keys are on the request.
    Merchant(Merchant),
}

impl Caller {
    /// The merchant a merchant route admitted.
    pub fn merchant(&self) -> Result<&Merchant, ApiError> {
        match self {
            Caller::Merchant(merchant) => Ok(merchant),
            Caller::Anyone => {
                Err(ApiError::Internal("a handler asked for the merchant on a route without keys".into()))
            }
        }
    }
}

/// One endpoint's handler as a function pointer, its future boxed (`handlers`): the Lambda
/// runtime serving it is then compiled once, in this crate, for every function (`crate::lambda`).
pub type Handler = for<'a> fn(&'a Request, &'a App, &'a Caller) -> HandlerFuture<'a>;

/// What a `Handler` returns.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<Response<Body>, ApiError>> + Send + 'a>>;

/// Runs one request through its endpoint, whichever it is: `paylinks serve` and tests.
pub async fn handle(endpoint: Endpoint, request: Request, app: &App) -> Response<Body> {
    handle_with(endpoint, handlers::handler(endpoint).unwrap_or(not_built), request, app).await
}

/// The handler of an endpoint this build leaves out (a feature not enabled).
fn not_built<'a>(_: &'a Request, _: &'a App, _: &'a Caller) -> HandlerFuture<'a> {
    Box::pin(async { Err(ApiError::Internal("this endpoint is not built into this binary".into())) })
}

/// Runs one request through `handler`, the handler of `endpoint`: admitted, handled, answered
/// and logged. `handle` looks the handler up; each Lambda function passes its own, so it links
/// no other.
pub(crate) async fn handle_with(endpoint: Endpoint, handler: Handler, request: Request, app: &App) -> Response<Body> {
    let started = Instant::now();
    let route = endpoint.route();
    let result = match admit(route, &request, app).await {
        Ok(caller) => handler(&request, app, &caller).await,
        Err(error) => Err(error),
    };
    respond(route, &request, &app.config, result, started)
}

/// `handle_with` for a public endpoint whose handler needs nothing but the request (the static
/// assets): its function builds no store, so no DynamoDB client, only the configuration.
pub(crate) fn handle_request_only(
    endpoint: Endpoint,
    handler: fn(&Request) -> Result<Response<Body>, ApiError>,
    request: Request,
    config: &Config,
) -> Response<Body> {
    let started = Instant::now();
    let route = endpoint.route();
    let result = match route.access {
        Access::Public => within_body_limit(&request).and_then(|()| handler(&request)),
        // Every other route needs the store to admit its caller.
        _ => Err(ApiError::Internal(format!("{} is not a public route", route.function))),
    };
    respond(route, &request, config, result, started)
}

/// Bodies over the limit are refused (413) before anything reads them.
fn within_body_limit(request: &Request) -> Result<(), ApiError> {
    if request.body().len() > MAX_BODY_BYTES { Err(ApiError::BodyTooLarge(MAX_BODY_BYTES)) } else { Ok(()) }
}

/// The caller, if `route` admits the request: bodies over the limit are refused (413) before
/// anything reads them; merchant routes need the merchant's keys (401) within its request
/// rate (429).
async fn admit(route: &Route, request: &Request, app: &App) -> Result<Caller, ApiError> {
    within_body_limit(request)?;
    match route.access {
        Access::Public | Access::Customer => Ok(Caller::Anyone),
        Access::Merchant => Ok(Caller::Merchant(authenticate(request, app).await?)),
        Access::Stripe => stripe_signed(request, app),
    }
}

/// A request Stripe signed with the webhook secret, within the tolerance.
#[cfg(feature = "stripe")]
fn stripe_signed(request: &Request, app: &App) -> Result<Caller, ApiError> {
    let secret = app.stripe_webhook_secret.as_ref().ok_or(ApiError::WebhookNotConfigured)?;
    let header = request.headers().get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    crate::checkout::stripe::webhook::verify(header, request.body(), secret, app.now())
        .map_err(|error| ApiError::InvalidSignature(error.to_string()))?;
    Ok(Caller::Anyone)
}

#[cfg(not(feature = "stripe"))]
fn stripe_signed(_: &Request, _: &App) -> Result<Caller, ApiError> {
    Err(ApiError::WebhookNotConfigured)
}

/// The handler's result as the client gets it: errors through the one error map, the
/// security headers on every response, one log line.
fn respond(
    route: &Route,
    request: &Request,
    config: &Config,
    result: Result<Response<Body>, ApiError>,
    started: Instant,
) -> Response<Body> {
    let (mut response, error) = match result {
        Ok(response) => (response, None),
        Err(error) => (error_response(route, &error, &page_base_path(request, config)), Some(error)),
    };
    add_security_headers(&mut response);
    log_request(route.function, request, &response, error.as_ref(), started);
    response
}

/// Resolves the route from the method and path, then handles the request: what API Gateway
/// and the Lambda runtime do together in production, for `paylinks serve` and tests.
pub async fn handle_routed(request: Request, app: &App) -> Response<Body> {
    match resolve(request.method(), request.uri().path()) {
        Ok(route) => handle(route.endpoint, request.with_path_parameters(route.path_parameters), app).await,
        Err(error) => refuse(&request, &error),
    }
}

/// A request refused before any route handles it (no such route, a method the path does not
/// take, a body `serve` could not read to its end): JSON, with the security headers and a log
/// line like every other answer.
pub fn refuse(request: &Request, error: &ApiError) -> Response<Body> {
    let started = Instant::now();
    let mut response = json(error.status(), &error.to_json());
    if let Some(allow) = router::allowed_methods(request.uri().path()).filter(|_| error.status() == 405)
        && let Ok(allow) = HeaderValue::from_str(&allow)
    {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    add_security_headers(&mut response);
    log_request("unrouted", request, &response, Some(error), started);
    response
}

/// The one place an `ApiError` becomes a response: a page for a route that answers HTML (its
/// links start with `base_path`), JSON otherwise; `Retry-After` on 429 and 503.
#[cfg_attr(not(feature = "pages"), allow(unused_variables))]
pub fn error_response(route: &Route, error: &ApiError, base_path: &str) -> Response<Body> {
    let mut response = match route.html {
        #[cfg(feature = "pages")]
        true => pages::error_page(error, base_path),
        _ => json(error.status(), &error.to_json()),
    };
    if let Some(seconds) = error.retry_after() {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

fn add_security_headers(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &'static str| {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set("x-content-type-options", "nosniff");
    set("referrer-policy", "no-referrer");
    set("cache-control", "no-store");
    set("content-security-policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'");
    // Browsers keep to https for this host for two years (ignored on plain-http localhost).
    set("strict-transport-security", "max-age=63072000; includeSubDomains");
}

fn log_request(route: &str, request: &Request, response: &Response<Body>, error: Option<&ApiError>, started: Instant) {
    // Whole microseconds, so the log says 0.24, not 0.24000000000000002.
    let latency_ms = started.elapsed().as_micros() as f64 / 1000.0;
    let request_id = request_id(request);
    let status = response.status().as_u16();
    let code = error.map(ApiError::code);
    match error.and_then(ApiError::log_detail) {
        Some(detail) => {
            tracing::error!(request_id, route, method = %request.method(), status, latency_ms, code, detail, "request failed")
        }
        None => {
            tracing::info!(request_id, route, method = %request.method(), status, latency_ms, code, "request")
        }
    }
}

#[cfg(test)]
mod tests;
