//! Lambda function for `Endpoint::CreateWebhookEndpoint`: builds its state once, then serves invocations with
//! its one handler.

use lambda_http::Error;
use paylinks_core::api::{Endpoint, webhook_endpoints};
use paylinks_core::{App, lambda, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let app = App::from_lambda_env().await?;
    lambda::serve(
        Endpoint::CreateWebhookEndpoint,
        |request, app, caller| Box::pin(webhook_endpoints::create(request, app, caller)),
        app,
    )
    .await
}
