//! Lambda function that delivers merchants' webhooks on AWS: woken by DynamoDB Streams (a
//! batch of new events) and by a one-minute schedule (retries); see `webhooks::dispatch`.

use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::{Error, service_fn};
use paylinks_core::webhooks::Sender;
use paylinks_core::webhooks::dispatch::on_wake_up;
use paylinks_core::{App, logging};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init();
    let app = App::from_lambda_env().await?;
    let sender = Sender::new(app.config.webhook_targets)?;
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(on_wake_up(app.store.as_ref(), &sender, || app.now()).await?)
    }))
    .await
}
