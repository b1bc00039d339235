//! Lambda function for `Endpoint::Asset`: static files compiled into the binary. It builds only
//! its configuration (no store, so no DynamoDB client), then serves invocations.

use lambda_http::{Error, run, service_fn};
use paylinks_core::api::{Endpoint, assets, handle_request_only};
use paylinks_core::{Config, logging};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let config = Config::from_env()?;
    run(service_fn(|request| async {
        Ok::<_, std::convert::Infallible>(handle_request_only(Endpoint::Asset, assets::serve, request, &config))
    }))
    .await
}
