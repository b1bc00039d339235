//! Lambda function for `Endpoint::ListEvents`: builds its state once, then serves invocations with
//! its one handler.

use lambda_http::Error;
use paylinks_core::api::{Endpoint, list_events};
use paylinks_core::{App, lambda, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let app = App::from_lambda_env().await?;
    lambda::serve(Endpoint::ListEvents, |request, app, caller| Box::pin(list_events::handle(request, app, caller)), app)
        .await
}
