//! Lambda function for `Endpoint::StripeWebhook`: builds its state once (the table, Stripe's
//! client and the webhook signing secret, read from SSM), then serves invocations with its one
//! handler.

use lambda_http::Error;
use paylinks_core::api::{Endpoint, stripe_webhook};
use paylinks_core::{App, lambda, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let app = App::from_lambda_env().await?.with_configured_processor().await?.with_stripe_webhook_secret(true).await?;
    lambda::serve(
        Endpoint::StripeWebhook,
        |request, app, caller| Box::pin(stripe_webhook::handle(request, app, caller)),
        app,
    )
    .await
}
