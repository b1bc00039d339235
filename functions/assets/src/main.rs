//! Lambda function for `Endpoint::Asset`: static files compiled into the binary. It builds only
//! its configuration (no store, so no DynamoDB client), then serves invocations.

use paylinks_core::api::{Endpoint, assets};
use paylinks_core::lambda::{self, Error};

fn main() -> Result<(), Error> {
    lambda::run_request_only(Endpoint::Asset, assets::serve)
}
