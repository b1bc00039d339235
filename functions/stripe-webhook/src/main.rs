//! Lambda function for `Endpoint::StripeWebhook`: builds its state once (the table, Stripe's
//! client and the webhook signing secret, read from SSM), then serves invocations with its one
//! handler.

use paylinks_core::api::{Endpoint, handlers};
use paylinks_core::lambda::{self, Error, init};

fn main() -> Result<(), Error> {
    lambda::run(Endpoint::StripeWebhook, init::stripe_webhook, handlers::stripe_webhook)
}
