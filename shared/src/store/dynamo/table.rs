//! The table itself: the SDK client from the environment, and creating the table with its TTL and index.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};

use super::{GSI1, GSI2};

/// An SDK client from the standard environment (the same chain the Lambda runtime uses).
pub async fn client_from_env() -> Result<Client, String> {
    Ok(Client::new(&crate::aws::config_from_env().await?))
}

/// Creates the table with its TTL and GSI, or leaves it as it is if it exists.
pub async fn create_table(client: &Client, table: &str) -> Result<(), String> {
    let string_attribute =
        |name: &str| AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build();
    let key =
        |name: &str, key_type: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(key_type).build();
    let gsi = |name: &str, pk: &str, sk: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(pk, KeyType::Hash).map_err(|e| e.to_string())?)
            .key_schema(key(sk, KeyType::Range).map_err(|e| e.to_string())?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .map_err(|e| e.to_string())
    };
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(string_attribute("pk").map_err(|e| e.to_string())?)
        .attribute_definitions(string_attribute("gsi1pk").map_err(|e| e.to_string())?)
        .attribute_definitions(string_attribute("gsi1sk").map_err(|e| e.to_string())?)
        .attribute_definitions(string_attribute("gsi2pk").map_err(|e| e.to_string())?)
        .attribute_definitions(string_attribute("gsi2sk").map_err(|e| e.to_string())?)
        .key_schema(key("pk", KeyType::Hash).map_err(|e| e.to_string())?)
        .global_secondary_indexes(gsi(GSI1, "gsi1pk", "gsi1sk")?)
        .global_secondary_indexes(gsi(GSI2, "gsi2pk", "gsi2sk")?)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e) if e.code() == Some("ResourceInUseException") => return Ok(()),
        Err(e) => return Err(DisplayErrorContext(&e).to_string()),
    }
    client
        .wait_until_table_exists()
        .table_name(table)
        .wait(std::time::Duration::from_secs(60))
        .await
        .map_err(|e| DisplayErrorContext(&e).to_string())?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await
        .map_err(|e| DisplayErrorContext(&e).to_string())?;
    Ok(())
}
