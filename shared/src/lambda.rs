//! What each Lambda function's `main` calls once its state is built: the runtime's loop, serving
//! one endpoint's handler.
//!
//! The runtime (lambda_http's service, its Runtime API client, hyper) is generic over the
//! service it runs. Instantiated here, for a handler behind a function pointer, it is compiled
//! once with this crate instead of again in each of the 23 binaries. A function's own crate is
//! then a few lines, so after a change in `shared/` building every function is this crate once,
//! then a small crate and a link per function (BENCHMARKS.md §8). A function pointer also keeps
//! each binary to its own handler: the linker drops every handler no `main` names.

use std::convert::Infallible;

use lambda_http::{Body, Error, Request, Response, service_fn};

use crate::api::{Endpoint, Handler, handle_request_only, handle_with};
use crate::error::ApiError;
use crate::{App, Config};

/// Serves `endpoint` with `handler` until the runtime stops: every request admitted, handled,
/// answered and logged as `handle_with` does.
pub async fn serve(endpoint: Endpoint, handler: Handler, app: App) -> Result<(), Error> {
    lambda_http::run(service_fn(|request| async {
        Ok::<_, Infallible>(handle_with(endpoint, handler, request, &app).await)
    }))
    .await
}

/// `serve` for a public endpoint whose handler needs nothing but the request (the static
/// assets): no store, so no DynamoDB client, only the configuration.
pub async fn serve_request_only(
    endpoint: Endpoint,
    handler: fn(&Request) -> Result<Response<Body>, ApiError>,
    config: Config,
) -> Result<(), Error> {
    lambda_http::run(service_fn(|request| async {
        Ok::<_, Infallible>(handle_request_only(endpoint, handler, request, &config))
    }))
    .await
}

/// Delivers merchants' webhooks each time the function is woken (a DynamoDB Streams batch of
/// new events, or the one-minute schedule for retries), whatever the event says.
#[cfg(feature = "webhook-delivery")]
pub async fn serve_webhook_delivery(app: App) -> Result<(), Error> {
    use lambda_http::lambda_runtime::{self, LambdaEvent};

    use crate::webhooks::Sender;
    use crate::webhooks::dispatch::on_wake_up;

    let sender = Sender::new(app.config.webhook_targets)?;
    lambda_runtime::run(service_fn(|_: LambdaEvent<serde_json::Value>| async {
        Ok::<_, Error>(on_wake_up(app.store.as_ref(), &sender, || app.now()).await?)
    }))
    .await
}
