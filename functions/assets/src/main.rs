//! Lambda function for `Endpoint::Asset`: static files compiled into the binary. It builds only
//! its configuration (no store, so no DynamoDB client), then serves invocations.

use lambda_http::Error;
use paylinks_core::api::{Endpoint, assets};
use paylinks_core::{Config, lambda, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let config = Config::from_env()?;
    lambda::serve_request_only(Endpoint::Asset, assets::serve, config).await
}
