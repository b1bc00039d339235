//! Every route: its method and path, the Lambda function serving it, who may call it and
//! whether it answers customers' browsers with HTML.

use lambda_http::http::Method;

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
    StripeWebhook,
    ListEvents,
    CreateWebhookEndpoint,
    ListWebhookEndpoints,
    GetWebhookEndpoint,
    ListWebhookDeliveries,
    DeleteWebhookEndpoint,
    RotateWebhookSecret,
    RedeliverEvent,
}

/// Who may call a route: checked once, before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: public JSON and static assets.
    Public,
    /// A customer's browser holding a link or session id (ids are unguessable; the pay form
    /// also carries the session's form token).
    Customer,
    /// A merchant's two API keys, within the merchant's request rate.
    Merchant,
    /// Stripe, proven by the `Stripe-Signature` over the body (the webhook signing secret).
    Stripe,
}

/// A route as API Gateway and `paylinks serve` both see it: `{name}` is a path parameter.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub endpoint: Endpoint,
    /// The Lambda function serving it: the binary built by `functions/<function>` and the
    /// `Binary` of its function in template.yaml; also the route's name in logs.
    pub function: &'static str,
    pub access: Access,
    /// Answers with HTML pages, errors included (customers' browsers); otherwise JSON.
    pub html: bool,
}

const fn route(
    method: Method,
    path: &'static str,
    endpoint: Endpoint,
    function: &'static str,
    access: Access,
    html: bool,
) -> Route {
    Route { method, path, endpoint, function, access, html }
}

use Access::{Customer, Merchant, Public, Stripe};
use Endpoint::*;

pub const ROUTES: &[Route] = &[
    route(Method::POST, "/api/payment-links/create", CreateLink, "create", Merchant, false),
    route(
        Method::GET,
        "/api/payment-links/{id}/check-availability",
        CheckAvailability,
        "check-availability",
        Public,
        false,
    ),
    route(Method::GET, "/pay/{id}", OpenLink, "open-link", Customer, true),
    route(Method::GET, "/checkout/{sessionId}", CheckoutPage, "checkout-page", Customer, true),
    route(Method::POST, "/checkout/{sessionId}/pay", Pay, "pay", Customer, true),
    route(Method::GET, "/checkout/{sessionId}/cancel", Cancel, "cancel", Customer, true),
    route(Method::GET, "/api/sessions/{sessionId}", SessionStatus, "session-status", Merchant, false),
    route(Method::GET, "/api/payment-links/{id}/qr", QrCode, "qr-code", Public, false),
    route(Method::GET, "/api/payment-links/{id}", GetLink, "get-link", Merchant, false),
    route(Method::GET, "/api/payment-links", ListLinks, "list-links", Merchant, false),
    route(Method::POST, "/api/payment-links/{id}/deactivate", DeactivateLink, "deactivate-link", Merchant, false),
    route(Method::POST, "/api/payment-links/{id}/activate", ActivateLink, "activate-link", Merchant, false),
    route(Method::GET, "/assets/{file}", Asset, "assets", Public, false),
    route(Method::POST, "/webhooks/stripe", StripeWebhook, "stripe-webhook", Stripe, false),
    route(Method::GET, "/api/events", ListEvents, "list-events", Merchant, false),
    route(Method::POST, "/api/events/{id}/redeliver", RedeliverEvent, "redeliver-event", Merchant, false),
    route(Method::POST, "/api/webhook-endpoints", CreateWebhookEndpoint, "create-webhook-endpoint", Merchant, false),
    route(Method::GET, "/api/webhook-endpoints", ListWebhookEndpoints, "list-webhook-endpoints", Merchant, false),
    route(Method::GET, "/api/webhook-endpoints/{id}", GetWebhookEndpoint, "get-webhook-endpoint", Merchant, false),
    route(
        Method::GET,
        "/api/webhook-endpoints/{id}/deliveries",
        ListWebhookDeliveries,
        "list-webhook-deliveries",
        Merchant,
        false,
    ),
    route(
        Method::DELETE,
        "/api/webhook-endpoints/{id}",
        DeleteWebhookEndpoint,
        "delete-webhook-endpoint",
        Merchant,
        false,
    ),
    route(
        Method::POST,
        "/api/webhook-endpoints/{id}/rotate-secret",
        RotateWebhookSecret,
        "rotate-webhook-secret",
        Merchant,
        false,
    ),
];

impl Endpoint {
    /// This endpoint's route in `ROUTES`.
    pub fn route(self) -> &'static Route {
        ROUTES.iter().find(|route| route.endpoint == self).expect("every endpoint has a route")
    }

    /// The Lambda function serving this endpoint (see `Route::function`).
    pub fn function(self) -> &'static str {
        self.route().function
    }
}
