//! Lambda function that delivers merchants' webhooks on AWS: woken by DynamoDB Streams (a
//! batch of new events) and by a one-minute schedule (retries). Whatever woke it, it delivers
//! what the outbox says is due; a store error fails the invocation, so the stream retries the
//! batch (bisected) and the schedule comes back in a minute.

use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::{Error, service_fn};
use paylinks_core::webhooks::{Sender, deliver_all_due};
use paylinks_core::{App, logging};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let app = App::from_lambda_env().await?;
    let sender = Sender::new(app.config.webhook_targets)?;
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        deliver_all_due(app.store.as_ref(), &sender, || app.now()).await?;
        // The stream's partial-batch answer: no record failed (the outbox keeps what is left).
        Ok::<_, Error>(json!({ "batchItemFailures": [] }))
    }))
    .await
}
