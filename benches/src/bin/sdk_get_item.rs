//! Second baseline for the cold-start benchmark (issue 16): the smallest function that reads
//! DynamoDB — lambda_http and aws-sdk-dynamodb, the SDK configured by aws-config's defaults on the
//! functions' HTTPS client (`paylinks_core::aws::config_from_env`), one strongly consistent GetItem of the link in the path per
//! invocation (200 when it exists, 404 when not). A real function's start is judged against it
//! and against `hello_lambda`.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Error, Request, RequestExt, Response, run, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let client = Client::new(&paylinks_core::aws::config_from_env().await?);
    let table = std::env::var("TABLE_NAME")?;
    run(service_fn(|request: Request| {
        let (client, table) = (&client, &table);
        async move {
            let id = request.path_parameters().first("id").unwrap_or_default().to_owned();
            let key = AttributeValue::S(format!("LINK#{id}"));
            let read = client.get_item().table_name(table).key("pk", key).consistent_read(true).send().await?;
            let status = if read.item.is_some() { 200 } else { 404 };
            Ok::<_, Error>(Response::builder().status(status).body(Body::Empty)?)
        }
    }))
    .await
}
