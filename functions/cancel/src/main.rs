//! Lambda function for `Endpoint::Cancel`: builds its state once (the table and, with Stripe,
//! its client and secret key, read from SSM: a cancel stops a lapsed attempt at the processor
//! before cancelling), then serves invocations with its one handler.

use lambda_http::Error;
use paylinks_core::api::{Endpoint, cancel};
use paylinks_core::{App, lambda, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let app = App::from_lambda_env().await?.with_configured_processor().await?;
    lambda::serve(Endpoint::Cancel, |request, app, caller| Box::pin(cancel::handle(request, app, caller)), app).await
}
