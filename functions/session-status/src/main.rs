//! Lambda function for `Endpoint::SessionStatus`: builds its state once, then serves invocations with
//! its one handler.

use lambda_http::Error;
use paylinks_core::api::{Endpoint, session_status};
use paylinks_core::{App, lambda, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let app = App::from_lambda_env().await?;
    lambda::serve(
        Endpoint::SessionStatus,
        |request, app, caller| Box::pin(session_status::handle(request, app, caller)),
        app,
    )
    .await
}
