//! Stores holding no data: a DynamoDB store on its own table in moto_server (so tests never
//! see each other's items), and an embedded store in a temporary directory.

use std::path::PathBuf;

use aws_sdk_dynamodb::Client;
use tempfile::TempDir;
use ulid::Ulid;

use super::moto_client;
use crate::store::dynamo::{DynamoStore, create_table};
use crate::store::embedded::EmbeddedStore;

/// A DynamoDB store on a new, uniquely named table (with its TTL and GSI) in moto_server.
pub async fn fresh_dynamo_store() -> DynamoStore {
    fresh_dynamo_store_with(moto_client().await).await
}

/// A DynamoDB store on a new, uniquely named table (with its TTL and GSI), through `client`
/// (e.g. one whose requests a `RequestCounter` counts).
pub async fn fresh_dynamo_store_with(client: Client) -> DynamoStore {
    let table = format!("t_{}", Ulid::new());
    create_table(&client, &table).await.unwrap_or_else(|e| panic!("cannot create table {table}: {e}"));
    DynamoStore::new(client, table)
}

/// An embedded store in a new temporary directory, removed when the `TempDir` is dropped
/// (keep it alive as long as the store).
pub fn fresh_embedded_store() -> (EmbeddedStore, TempDir) {
    let dir = tempfile::Builder::new().prefix("paylinks-store-").tempdir().expect("create a temporary directory");
    let store = EmbeddedStore::open(&embedded_store_path(&dir)).expect("open the embedded store");
    (store, dir)
}

/// Where `fresh_embedded_store` keeps its file inside `dir`, to reopen it.
pub fn embedded_store_path(dir: &TempDir) -> PathBuf {
    dir.path().join("paylinks.redb")
}
