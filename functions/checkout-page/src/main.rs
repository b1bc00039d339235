//! Lambda function for `Endpoint::CheckoutPage`: builds its state once, then serves invocations with
//! its one handler.

use lambda_http::Error;
use paylinks_core::api::{Endpoint, checkout_page};
use paylinks_core::{App, lambda, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let app = App::from_lambda_env().await?;
    lambda::serve(
        Endpoint::CheckoutPage,
        |request, app, caller| Box::pin(checkout_page::handle(request, app, caller)),
        app,
    )
    .await
}
