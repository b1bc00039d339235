//! Lambda function for `Endpoint::Pay`: builds its state once (the table and, with Stripe, its
//! client and secret key, read from SSM), then serves invocations with its one handler.

use paylinks_core::api::{Endpoint, handlers};
use paylinks_core::lambda::{self, Error, init};

fn main() -> Result<(), Error> {
    lambda::run(Endpoint::Pay, init::table_and_processor, handlers::pay)
}
