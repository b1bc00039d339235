//! The HTTP surface: one module per endpoint, one route table, one place that turns errors
//! into responses and writes the request's log line.

use std::time::Instant;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::app::App;
use crate::error::ApiError;

pub mod assets;
pub mod cancel;
pub mod check_availability;
pub mod checkout_page;
pub mod create;
pub mod get_link;
pub mod link_view;
pub mod list_links;
pub mod open_link;
mod pages;
pub mod pay;
pub mod qr;
mod router;
pub mod session_status;
pub mod set_active;

pub use router::{ResolvedRoute, resolve};

/// Bodies above this are refused with 413 before anything parses them.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every endpoint; each is one Lambda function in production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    CreateLink,
    CheckAvailability,
    OpenLink,
    CheckoutPage,
    Pay,
    Cancel,
    SessionStatus,
    QrCode,
    GetLink,
    ListLinks,
    DeactivateLink,
    ActivateLink,
    Asset,
}

/// A route as API Gateway and `paylinks serve` both see it: `{name}` is a path parameter.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub endpoint: Endpoint,
}

pub const ROUTES: &[Route] = &[
    Route { method: Method::POST, path: "/api/payment-links/create", endpoint: Endpoint::CreateLink },
    Route {
        method: Method::GET,
        path: "/api/payment-links/{id}/check-availability",
        endpoint: Endpoint::CheckAvailability,
    },
    Route { method: Method::GET, path: "/pay/{id}", endpoint: Endpoint::OpenLink },
    Route { method: Method::GET, path: "/checkout/{sessionId}", endpoint: Endpoint::CheckoutPage },
    Route { method: Method::POST, path: "/checkout/{sessionId}/pay", endpoint: Endpoint::Pay },
    Route { method: Method::GET, path: "/checkout/{sessionId}/cancel", endpoint: Endpoint::Cancel },
    Route { method: Method::GET, path: "/api/sessions/{sessionId}", endpoint: Endpoint::SessionStatus },
    Route { method: Method::GET, path: "/api/payment-links/{id}/qr", endpoint: Endpoint::QrCode },
    Route { method: Method::GET, path: "/api/payment-links/{id}", endpoint: Endpoint::GetLink },
    Route { method: Method::GET, path: "/api/payment-links", endpoint: Endpoint::ListLinks },
    Route { method: Method::POST, path: "/api/payment-links/{id}/deactivate", endpoint: Endpoint::DeactivateLink },
    Route { method: Method::POST, path: "/api/payment-links/{id}/activate", endpoint: Endpoint::ActivateLink },
    Route { method: Method::GET, path: "/assets/{file}", endpoint: Endpoint::Asset },
];

impl Endpoint {
    /// The route name used in logs.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::CreateLink => "create",
            Endpoint::CheckAvailability => "check-availability",
            Endpoint::OpenLink => "redirect",
            Endpoint::CheckoutPage => "checkout-page",
            Endpoint::Pay => "pay",
            Endpoint::Cancel => "cancel",
            Endpoint::SessionStatus => "session-status",
            Endpoint::QrCode => "qr-code",
            Endpoint::GetLink => "get-link",
            Endpoint::ListLinks => "list-links",
            Endpoint::DeactivateLink => "deactivate-link",
            Endpoint::ActivateLink => "activate-link",
            Endpoint::Asset => "assets",
        }
    }

    /// The Lambda function serving this endpoint in production: the binary built by
    /// `functions/<function>` and the `Binary` of its function in template.yaml.
    pub fn function(self) -> &'static str {
        self.name()
    }

    /// Customers' browsers get HTML pages, even for errors; API clients get JSON.
    fn serves_html(self) -> bool {
        matches!(self, Endpoint::OpenLink | Endpoint::CheckoutPage | Endpoint::Pay | Endpoint::Cancel)
    }
}

/// Runs one request through its endpoint: the single entry point for Lambda and local serve.
pub async fn handle(endpoint: Endpoint, request: Request, app: &App) -> Response<Body> {
    let started = Instant::now();
    let result = if request.body().len() > MAX_BODY_BYTES {
        Err(ApiError::BodyTooLarge(MAX_BODY_BYTES))
    } else {
        dispatch(endpoint, &request, app).await
    };
    let (mut response, error) = match result {
        Ok(response) => (response, None),
        Err(error) => (error_response(endpoint, &error, &page_base_path(&request, app)), Some(error)),
    };
    add_security_headers(&mut response);
    log_request(endpoint.name(), &request, &response, error.as_ref(), started);
    response
}

/// Resolves the route from the method and path, then handles the request: what API Gateway
/// and the Lambda runtime do together in production, for `paylinks serve` and tests.
pub async fn handle_routed(request: Request, app: &App) -> Response<Body> {
    match resolve(request.method(), request.uri().path()) {
        Ok(route) => handle(route.endpoint, request.with_path_parameters(route.path_parameters), app).await,
        Err(error) => {
            let started = Instant::now();
            let mut response = json(error.status(), &error.to_json());
            if let Some(allow) = router::allowed_methods(request.uri().path()).filter(|_| error.status() == 405)
                && let Ok(allow) = HeaderValue::from_str(&allow)
            {
                response.headers_mut().insert(header::ALLOW, allow);
            }
            add_security_headers(&mut response);
            log_request("unrouted", &request, &response, Some(&error), started);
            response
        }
    }
}

async fn dispatch(endpoint: Endpoint, request: &Request, app: &App) -> Result<Response<Body>, ApiError> {
    match endpoint {
        Endpoint::CreateLink => create::handle(request, app).await,
        Endpoint::CheckAvailability => check_availability::handle(request, app).await,
        Endpoint::OpenLink => open_link::handle(request, app).await,
        Endpoint::CheckoutPage => checkout_page::handle(request, app).await,
        Endpoint::Pay => pay::handle(request, app).await,
        Endpoint::Cancel => cancel::handle(request, app).await,
        Endpoint::SessionStatus => session_status::handle(request, app).await,
        Endpoint::QrCode => qr::handle(request, app).await,
        Endpoint::GetLink => get_link::handle(request, app).await,
        Endpoint::ListLinks => list_links::handle(request, app).await,
        Endpoint::DeactivateLink => set_active::handle(request, app, false).await,
        Endpoint::ActivateLink => set_active::handle(request, app, true).await,
        Endpoint::Asset => assets::handle(request),
    }
}

/// The one place an `ApiError` becomes a response (a page's links start with `base_path`).
pub fn error_response(endpoint: Endpoint, error: &ApiError, base_path: &str) -> Response<Body> {
    let mut response = if endpoint.serves_html() {
        pages::error_page(error, base_path)
    } else {
        json(error.status(), &error.to_json())
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

/// API Gateway's request id (also set by `paylinks serve`), for correlating logs.
pub fn request_id(request: &Request) -> String {
    match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => {
            context.request_id.clone().unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// A path parameter by name; a missing one means the route table and handler disagree.
pub(crate) fn path_parameter(request: &Request, name: &str) -> Option<String> {
    request.path_parameters_ref().and_then(|params| params.first(name)).map(str::to_owned)
}

/// The client's IP: API Gateway's `sourceIp` (set by `paylinks serve` too), or the first
/// `X-Forwarded-For` address when the deployment trusts the proxy in front.
pub(crate) fn client_ip(request: &Request, app: &App) -> Option<String> {
    if app.config.trust_forwarded_for
        && let Some(forwarded) = request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok())
        && let Some(first) = forwarded.split(',').map(str::trim).find(|ip| !ip.is_empty())
    {
        return Some(first.to_owned());
    }
    match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
        _ => None,
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
pub(crate) fn page_base_path(request: &Request, app: &App) -> String {
    match &app.config.public_url {
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

pub(crate) fn html(status: StatusCode, page: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Body::Text(page))
        .expect("static headers are valid")
}

pub(crate) fn see_other(location: &str) -> Result<Response<Body>, ApiError> {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .body(Body::Empty)
        .map_err(|e| ApiError::Internal(format!("bad redirect location: {e}")))
}

#[cfg(test)]
mod tests;
