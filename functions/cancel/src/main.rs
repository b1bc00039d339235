//! Lambda function for `Endpoint::Cancel`: builds its state once (the table and, with Stripe,
//! its client and secret key, read from SSM: a cancel stops a lapsed attempt at the processor
//! before cancelling), then serves invocations with its one handler.

use std::convert::Infallible;

use lambda_http::{Error, run, service_fn};
use paylinks_core::api::{Endpoint, cancel, handle_with};
use paylinks_core::{App, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let app = App::from_lambda_env().await?.with_configured_processor().await?;
    run(service_fn(|request| async {
        Ok::<_, Infallible>(handle_with(Endpoint::Cancel, cancel::handle, request, &app).await)
    }))
    .await
}
