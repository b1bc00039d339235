//! Lambda function for `Endpoint::ActivateLink`: builds its state once, then serves invocations with
//! its one handler.

use lambda_http::Error;
use paylinks_core::api::{Endpoint, set_active};
use paylinks_core::{App, lambda, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let app = App::from_lambda_env().await?;
    lambda::serve(
        Endpoint::ActivateLink,
        |request, app, caller| Box::pin(set_active::activate(request, app, caller)),
        app,
    )
    .await
}
