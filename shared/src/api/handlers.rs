//! Every endpoint's handler as a `Handler`, by name for each Lambda function's `main` (which so
//! links its own handler and no other) and by endpoint for `paylinks serve` and tests.
//!
//! Each is a named function, not a closure: rustc compiles a closure, like an `async fn`'s
//! body, again in every crate that names it, so a closure in a function's `main` would compile
//! its handler (and all it awaits) in that small crate as well. A named function is compiled
//! once, here.

use lambda_http::Request;

use super::{Caller, Endpoint, Handler, HandlerFuture};
use crate::App;

macro_rules! handlers {
    ($($(#[$cfg:meta])* $endpoint:ident => $name:ident = $handle:path;)*) => {
        $(
            $(#[$cfg])*
            #[doc = concat!("`", stringify!($handle), "` behind a `Handler` pointer.")]
            #[inline(never)]
            pub fn $name<'a>(request: &'a Request, app: &'a App, caller: &'a Caller) -> HandlerFuture<'a> {
                Box::pin($handle(request, app, caller))
            }
        )*

        /// The handler of `endpoint`, unless this build leaves it out (a feature not enabled).
        pub fn handler(endpoint: Endpoint) -> Option<Handler> {
            match endpoint {
                $($(#[$cfg])* Endpoint::$endpoint => Some($name),)*
                #[allow(unreachable_patterns)]
                _ => None,
            }
        }
    };
}

handlers! {
    CreateLink => create_link = super::create::handle;
    CheckAvailability => check_availability = super::check_availability::handle;
    #[cfg(feature = "pages")]
    OpenLink => open_link = super::open_link::handle;
    #[cfg(feature = "pages")]
    CheckoutPage => checkout_page = super::checkout_page::handle;
    #[cfg(feature = "pages")]
    Pay => pay = super::pay::handle;
    #[cfg(feature = "pages")]
    Cancel => cancel = super::cancel::handle;
    SessionStatus => session_status = super::session_status::handle;
    #[cfg(feature = "qr")]
    QrCode => qr_code = super::qr::handle;
    GetLink => get_link = super::get_link::handle;
    ListLinks => list_links = super::list_links::handle;
    ListEvents => list_events = super::list_events::handle;
    DeactivateLink => deactivate_link = super::set_active::deactivate;
    ActivateLink => activate_link = super::set_active::activate;
    Asset => asset = super::assets::handle;
    #[cfg(feature = "stripe")]
    StripeWebhook => stripe_webhook = super::stripe_webhook::handle;
    #[cfg(feature = "webhooks")]
    CreateWebhookEndpoint => create_webhook_endpoint = super::webhook_endpoints::create;
    #[cfg(feature = "webhooks")]
    ListWebhookEndpoints => list_webhook_endpoints = super::webhook_endpoints::list;
    #[cfg(feature = "webhooks")]
    GetWebhookEndpoint => get_webhook_endpoint = super::webhook_endpoints::get;
    #[cfg(feature = "webhooks")]
    ListWebhookDeliveries => list_webhook_deliveries = super::webhook_endpoints::deliveries;
    #[cfg(feature = "webhooks")]
    DeleteWebhookEndpoint => delete_webhook_endpoint = super::webhook_endpoints::delete;
    #[cfg(feature = "webhooks")]
    RotateWebhookSecret => rotate_webhook_secret = super::webhook_endpoints::rotate_secret;
    #[cfg(feature = "webhooks")]
    RedeliverEvent => redeliver_event = super::redeliver_event::handle;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ROUTES;

    /// With every feature (the crate's own tests), `paylinks serve` can serve every route.
    #[test]
    fn every_route_has_its_handler() {
        for route in ROUTES {
            assert!(handler(route.endpoint).is_some(), "{:?} has no handler", route.endpoint);
        }
    }
}
