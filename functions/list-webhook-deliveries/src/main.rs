//! Lambda function for `Endpoint::ListWebhookDeliveries`: builds its state once, then serves invocations with
//! its one handler.

use paylinks_core::api::{Endpoint, handlers};
use paylinks_core::lambda::{self, Error, init};

fn main() -> Result<(), Error> {
    lambda::run(Endpoint::ListWebhookDeliveries, init::table, handlers::list_webhook_deliveries)
}
