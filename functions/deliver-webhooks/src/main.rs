//! Lambda function that delivers merchants' webhooks on AWS: woken by DynamoDB Streams (a
//! batch of new events) and by a one-minute schedule (retries); see `webhooks::dispatch`.

use lambda_http::Error;
use paylinks_core::{App, lambda, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let app = App::from_lambda_env().await?;
    lambda::serve_webhook_delivery(app).await
}
