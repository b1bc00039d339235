//! Merchant webhooks: endpoints the merchant registers, and the delivery of every event to
//! them, signed the Standard Webhooks way (<https://www.standardwebhooks.com/>), at least once,
//! retried on a schedule. The outbox is the store's: events are written due with the change they
//! report (`store::Webhooks`), so a delivery can be late but never lost or invented.

pub mod addresses;
#[cfg(feature = "webhook-delivery")]
pub mod deliver;
#[cfg(feature = "webhook-delivery")]
pub mod dispatch;
pub mod endpoints;
pub mod log;
#[cfg(feature = "webhook-delivery")]
pub mod schedule;
pub mod signature;

#[cfg(feature = "webhook-delivery")]
pub use deliver::{Sender, deliver_all_due, deliver_due};

/// The Lambda function that delivers webhooks on AWS (no HTTP route: DynamoDB Streams and a
/// schedule wake it).
pub const DISPATCH_FUNCTION: &str = "deliver-webhooks";

#[cfg(all(test, feature = "webhook-delivery"))]
mod tests;
