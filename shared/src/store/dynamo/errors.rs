//! What DynamoDB's errors mean for us: conflicts retried, refusals explained, the rest `Unavailable`.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::{TransactWriteItemsError, TransactWriteItemsOutput};
use aws_sdk_dynamodb::types::CancellationReason;

use super::CONFLICT_RETRIES;
use crate::store::StoreError;

/// Sends a write again while DynamoDB refuses it with `TransactionConflictException`.
pub(super) async fn retry_conflicts<T, E, R, Fut>(mut send: impl FnMut() -> Fut) -> Result<T, SdkError<E, R>>
where
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    let mut retry = 0;
    loop {
        match send().await {
            Err(error) if retry < CONFLICT_RETRIES && error.code() == Some("TransactionConflictException") => {
                back_off(retry).await;
                retry += 1;
            }
            result => return result,
        }
    }
}

/// Sends a transaction, and again while it is cancelled only because an item of it was in
/// another transaction at the time (a `TransactionConflict` reason, no failed condition: nothing
/// was written, and the SDK does not retry these itself). Single-item writes meet the same race
/// as `TransactionConflictException`: see [`retry_conflicts`].
pub(super) async fn send_transaction(
    request: &TransactWriteItemsFluentBuilder,
) -> Result<TransactWriteItemsOutput, SdkError<TransactWriteItemsError, HttpResponse>> {
    let mut retry = 0;
    loop {
        match request.clone().send().await {
            Err(error) if retry < CONFLICT_RETRIES && only_conflicting(&error) => {
                back_off(retry).await;
                retry += 1;
            }
            result => return result,
        }
    }
}

/// A transaction cancelled by a conflict with another transaction, and by nothing else.
fn only_conflicting<R>(error: &SdkError<TransactWriteItemsError, R>) -> bool {
    let reasons: Vec<Option<&str>> = cancellation_reasons(error).iter().map(failure).collect();
    reasons.contains(&Some("TransactionConflict"))
        && reasons.iter().flatten().all(|code| *code == "TransactionConflict")
}

/// 10, 20, 40, 80 ms plus jitter, so racing writers spread out.
pub(super) async fn back_off(retry: u32) {
    let millis = (10u64 << retry.min(6)) + rand::random_range(0..10);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

pub(super) fn contention(operation: &str) -> StoreError {
    StoreError::Unavailable(format!("{operation}: the item kept changing; try again"))
}

/// `Conflict` for a failed condition, `Unavailable` (503, retry) for everything else the
/// service can throw at us: throttling, timeouts, network, a missing table.
pub(super) fn classify<E, R>(error: SdkError<E, R>, conflict: &'static str) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if error.code() == Some("ConditionalCheckFailedException") {
        StoreError::Conflict(conflict)
    } else {
        StoreError::Unavailable(DisplayErrorContext(&error).to_string())
    }
}

/// `classify` for a transaction: `Conflict` when an item's condition failed.
pub(super) fn classify_transaction<R>(error: SdkError<TransactWriteItemsError, R>, conflict: &'static str) -> StoreError
where
    R: std::fmt::Debug,
{
    if cancellation_reasons(&error).iter().any(|reason| failure(reason) == Some("ConditionalCheckFailed")) {
        StoreError::Conflict(conflict)
    } else {
        StoreError::Unavailable(DisplayErrorContext(&error).to_string())
    }
}

/// Why each item of a cancelled transaction failed, in request order (empty for other errors).
pub(super) fn cancellation_reasons<R>(error: &SdkError<TransactWriteItemsError, R>) -> &[CancellationReason] {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled.cancellation_reasons(),
        _ => &[],
    }
}

/// The failure code of one item of a cancelled transaction; None if that item was fine.
pub(super) fn failure(reason: &CancellationReason) -> Option<&str> {
    reason.code().filter(|code| *code != "None")
}
