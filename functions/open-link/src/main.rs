//! Lambda function for `Endpoint::OpenLink`: builds its state once, then serves invocations with
//! its one handler.

use lambda_http::Error;
use paylinks_core::api::{Endpoint, open_link};
use paylinks_core::{App, lambda, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let app = App::from_lambda_env().await?;
    lambda::serve(Endpoint::OpenLink, |request, app, caller| Box::pin(open_link::handle(request, app, caller)), app)
        .await
}
