//! Lambda function for `Endpoint::Cancel`: builds its state once (the table and, with Stripe,
//! its client and secret key, read from SSM: a cancel stops a lapsed attempt at the processor
//! before cancelling), then serves invocations with its one handler.

use paylinks_core::api::{Endpoint, handlers};
use paylinks_core::lambda::{self, Error, init};

fn main() -> Result<(), Error> {
    lambda::run(Endpoint::Cancel, init::table_and_processor, handlers::cancel)
}
