//! Lambda function that delivers merchants' webhooks on AWS: woken by DynamoDB Streams (a
//! batch of new events) and by a one-minute schedule (retries); see `webhooks::dispatch`.

use paylinks_core::lambda::{self, Error};

fn main() -> Result<(), Error> {
    lambda::run_webhook_delivery()
}
