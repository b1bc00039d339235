//! Payment links: the library every binary uses.
//!
//! Layers, each using only those below it (ARCHITECTURE.md): `api` (HTTP in and out) →
//! `links` and `checkout` (what links and checkouts do) → `store` (capabilities) → `model`
//! and `money`. Handlers take an `http::Request` and an `&App` and never know whether they
//! run in Lambda or in `paylinks serve`.

pub mod api;
pub mod app;
pub mod auth;
pub mod aws;
pub mod checkout;
pub mod clock;
pub mod error;
#[cfg(test)]
mod fuzz;
pub mod lambda;
pub mod limits;
pub mod links;
pub mod logging;
pub mod model;
pub mod money;
pub mod secrets;
pub mod store;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod validate;
#[cfg(feature = "webhooks")]
pub mod webhooks;

pub use app::{App, Config};
pub use clock::{Clock, ManualClock, SystemClock};
