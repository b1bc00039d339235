//! Lambda function for `Endpoint::StripeWebhook`: builds its state once (the table, Stripe's
//! client and the webhook signing secret, read from SSM), then serves invocations with its one
//! handler.

use std::convert::Infallible;

use lambda_http::{Error, run, service_fn};
use paylinks_core::api::{Endpoint, handle_with, stripe_webhook};
use paylinks_core::{App, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let app = App::from_lambda_env().await?.with_configured_processor().await?.with_stripe_webhook_secret(true).await?;
    run(service_fn(|request| async {
        Ok::<_, Infallible>(handle_with(Endpoint::StripeWebhook, stripe_webhook::handle, request, &app).await)
    }))
    .await
}
