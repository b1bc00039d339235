//! DynamoDB under contention, on moto: an SDK interceptor that answers chosen write requests as
//! a busy table does (`TransactionConflict`, throttling) instead of letting moto apply them.
//! moto serializes every request, so without this, the paths that decide between "try again"
//! and "limit reached" on AWS would never run in a test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_types::body::SdkBody;

/// How a busy table refuses a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contention {
    /// The item is in another transaction: `TransactionConflictException`, or a cancelled
    /// transaction whose first item says `TransactionConflict`. Nothing was written.
    Conflict,
    /// `ProvisionedThroughputExceededException` (the SDK retries it with backoff).
    Throttled,
}

/// Which write requests to refuse: `count` of them from the `first` counted (0-based).
#[derive(Debug, Default)]
struct State {
    writes: usize,
    /// The operation of every write request seen, in order.
    operations: Vec<&'static str>,
    refuse: Option<(usize, usize, Contention)>,
    /// The refusal for the request in flight, with its transaction's item count.
    refusing: Option<(Contention, &'static str, usize)>,
}

#[derive(Debug, Clone, Default)]
pub struct ContentionInjector(Arc<Mutex<State>>);

impl ContentionInjector {
    /// Write requests (PutItem, UpdateItem, DeleteItem, TransactWriteItems) seen so far.
    pub fn writes(&self) -> usize {
        self.0.lock().unwrap().writes
    }

    /// The operation of each write request seen so far (`UpdateItem`, `TransactWriteItems`…).
    pub fn operations(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().operations.clone()
    }

    /// Refuses `count` write requests from the `first`-th on (counting from the next one as 0),
    /// retries included: 1 is a passing conflict, a large count a table that stays busy.
    pub fn refuse(&self, first: usize, count: usize, contention: Contention) {
        let mut state = self.0.lock().unwrap();
        let start = state.writes + first;
        state.refuse = Some((start, count, contention));
    }

    pub fn heal(&self) {
        self.0.lock().unwrap().refuse = None;
    }
}

impl Intercept for ContentionInjector {
    fn name(&self) -> &'static str {
        "ContentionInjector"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let target = request.headers().get("x-amz-target").unwrap_or_default().to_owned();
        let operation: &'static str = match target.rsplit('.').next() {
            Some("PutItem") => "PutItem",
            Some("UpdateItem") => "UpdateItem",
            Some("DeleteItem") => "DeleteItem",
            Some("TransactWriteItems") => "TransactWriteItems",
            _ => return Ok(()),
        };
        let mut state = self.0.lock().unwrap();
        let index = state.writes;
        state.writes += 1;
        state.operations.push(operation);
        let Some((start, count, contention)) = state.refuse else { return Ok(()) };
        if !(start..start + count).contains(&index) {
            return Ok(());
        }
        let body: serde_json::Value =
            request.body().bytes().and_then(|bytes| serde_json::from_slice(bytes).ok()).unwrap_or_default();
        let items = body["TransactItems"].as_array().map_or(0, Vec::len);
        state.refusing = Some((contention, operation, items));
        // The table never sees it: moto answers a harmless read instead, which the refusal
        // then replaces.
        request.headers_mut().insert("x-amz-target", "DynamoDB_20120810.ListTables");
        request.headers_mut().insert("content-length", "2");
        *request.body_mut() = SdkBody::from("{}");
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some((contention, operation, items)) = self.0.lock().unwrap().refusing.take() else { return Ok(()) };
        let body = match (contention, operation) {
            (Contention::Conflict, "TransactWriteItems") => {
                let mut reasons = vec![
                    serde_json::json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}),
                ];
                reasons.resize(items.max(1), serde_json::json!({"Code": "None"}));
                serde_json::json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                    "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
                    "CancellationReasons": reasons,
                })
            }
            (Contention::Conflict, _) => serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
                "message": "Transaction is ongoing for the item",
            }),
            (Contention::Throttled, _) => serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput for the table was exceeded.",
            }),
        };
        let response = context.response_mut();
        *response.status_mut() = 400.try_into().expect("400 is a status");
        response.headers_mut().insert("content-type", "application/x-amz-json-1.0");
        *response.body_mut() = SdkBody::from(body.to_string());
        Ok(())
    }
}

/// A DynamoDB client for `endpoint` whose writes `injector` may refuse. The SDK retries a
/// throttled request as it does on AWS, only without waiting seconds between tries.
pub fn contended_client(endpoint: &str, injector: &ContentionInjector) -> aws_sdk_dynamodb::Client {
    let base = super::dynamo_client(endpoint);
    let retries = RetryConfig::standard().with_initial_backoff(Duration::from_millis(5));
    let config = base.config().to_builder().interceptor(injector.clone()).retry_config(retries).build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
