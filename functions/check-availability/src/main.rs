//! Lambda function for `Endpoint::CheckAvailability`: builds its state once, then serves invocations with
//! its one handler.

use std::convert::Infallible;

use lambda_http::{Error, run, service_fn};
use paylinks_core::api::{Endpoint, check_availability, handle_with};
use paylinks_core::{App, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let app = App::from_lambda_env().await?;
    run(service_fn(|request| async {
        Ok::<_, Infallible>(handle_with(Endpoint::CheckAvailability, check_availability::handle, request, &app).await)
    }))
    .await
}
