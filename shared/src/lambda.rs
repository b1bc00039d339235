//! Everything a Lambda function does but name its endpoint, the state it builds once and its
//! handler: its `main` is `lambda::run(Endpoint::X, init::table, handlers::x)`.
//!
//! Why the tokio runtime and every `.await` live here, not in `main`: rustc compiles an `async
//! fn`'s body, like a closure or a generic function, again in each crate that uses it. A `main`
//! that awaited its state and the runtime's loop compiled them (lambda_http's service, its
//! Runtime API client, hyper, the AWS SDK's set-up) in its own crate, once per function. `run`
//! and the functions it is given are plain named functions, never inlined, so they are compiled
//! once, in this crate: a function's own crate compiles one call and links, and the linker keeps
//! only the state and the handler its `main` names (BENCHMARKS.md §8).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

pub use lambda_http::Error;
use lambda_http::{Body, Request, Response, service_fn};

use crate::api::{Endpoint, Handler, handle_request_only, handle_with};
use crate::error::ApiError;
use crate::{App, Config, logging};

/// What a function builds once, before its first request: one of `init`'s functions.
pub type Init = fn() -> InitFuture;

/// What an `Init` returns.
pub type InitFuture = Pin<Box<dyn Future<Output = Result<App, String>>>>;

/// Serves `endpoint` with `handler`, on the state `init` builds, until the runtime stops: every
/// request admitted, handled, answered and logged as `handle_with` does.
#[inline(never)]
pub fn run(endpoint: Endpoint, init: Init, handler: Handler) -> Result<(), Error> {
    block_on(async {
        let app = init().await?;
        lambda_http::run(service_fn(|request| async {
            Ok::<_, Infallible>(handle_with(endpoint, handler, request, &app).await)
        }))
        .await
    })
}

/// `run` for a public endpoint whose handler needs nothing but the request (the static
/// assets): no store, so no DynamoDB client, only the configuration.
#[inline(never)]
pub fn run_request_only(
    endpoint: Endpoint,
    handler: fn(&Request) -> Result<Response<Body>, ApiError>,
) -> Result<(), Error> {
    block_on(async {
        let config = Config::from_env()?;
        lambda_http::run(service_fn(|request| async {
            Ok::<_, Infallible>(handle_request_only(endpoint, handler, request, &config))
        }))
        .await
    })
}

/// Delivers merchants' webhooks each time the function is woken (a DynamoDB Streams batch of
/// new events, or the one-minute schedule for retries), whatever the event says.
#[cfg(feature = "webhook-delivery")]
#[inline(never)]
pub fn run_webhook_delivery() -> Result<(), Error> {
    use lambda_http::lambda_runtime::{self, LambdaEvent};

    use crate::webhooks::Sender;
    use crate::webhooks::dispatch::on_wake_up;

    block_on(async {
        let app = App::from_lambda_env().await?;
        let sender = Sender::new(app.config.webhook_targets)?;
        lambda_runtime::run(service_fn(|_: LambdaEvent<serde_json::Value>| async {
            Ok::<_, Error>(on_wake_up(app.store.as_ref(), &sender, || app.now()).await?)
        }))
        .await
    })
}

/// Starts the JSON log lines, then runs `function` on tokio's current-thread runtime: an
/// instance serves one event at a time, so worker threads would only cost start time.
fn block_on(function: impl Future<Output = Result<(), Error>>) -> Result<(), Error> {
    logging::init();
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(function)
}

/// The states a function builds at init, each an `Init`.
pub mod init {
    use super::InitFuture;
    use crate::App;

    /// The table (`TABLE_NAME`, with the function's region and role) and the configuration.
    #[inline(never)]
    pub fn table() -> InitFuture {
        Box::pin(App::from_lambda_env())
    }

    /// `table`, and the processor the configuration names: for Stripe, its client and secret
    /// key, read from SSM. For the functions that charge or stop a charge (pay, cancel).
    #[cfg(feature = "stripe")]
    #[inline(never)]
    pub fn table_and_processor() -> InitFuture {
        Box::pin(async { App::from_lambda_env().await?.with_configured_processor().await })
    }

    /// `table_and_processor`, and Stripe's webhook signing secret, read from SSM: the function
    /// that takes Stripe's webhooks.
    #[cfg(feature = "stripe")]
    #[inline(never)]
    pub fn stripe_webhook() -> InitFuture {
        Box::pin(async { table_and_processor().await?.with_stripe_webhook_secret(true).await })
    }
}
