//! Lambda function for `Endpoint::Pay`: builds its state once (the table and, with Stripe, its
//! client and secret key, read from SSM), then serves invocations with its one handler.

use lambda_http::Error;
use paylinks_core::api::{Endpoint, pay};
use paylinks_core::{App, lambda, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let app = App::from_lambda_env().await?.with_configured_processor().await?;
    lambda::serve(Endpoint::Pay, |request, app, caller| Box::pin(pay::handle(request, app, caller)), app).await
}
