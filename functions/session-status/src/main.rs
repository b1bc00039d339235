//! Lambda function for `Endpoint::SessionStatus`: builds its state once, then serves invocations with
//! its one handler.

use std::convert::Infallible;

use lambda_http::{Error, run, service_fn};
use paylinks_core::api::{Endpoint, handle_with, session_status};
use paylinks_core::{App, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let app = App::from_lambda_env().await?;
    run(service_fn(|request| async {
        Ok::<_, Infallible>(handle_with(Endpoint::SessionStatus, session_status::handle, request, &app).await)
    }))
    .await
}
