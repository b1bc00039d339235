//! What every handler is given: the store, the clock and the configuration.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::checkout::processor::{PaymentProcessor, SandboxProcessor};
use crate::store::Store;

/// The time source, so tests can move time (expiry) without sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Base of the URLs handed to customers, e.g. `https://pay.example.com`. When unset, the
    /// request's own host is used (API Gateway's domain, always https).
    pub public_url: Option<String>,
}

impl Config {
    /// Reads `PUBLIC_BASE_URL` (Lambda) or `PAYLINKS_PUBLIC_URL` (local).
    pub fn from_env() -> Self {
        let public_url = ["PUBLIC_BASE_URL", "PAYLINKS_PUBLIC_URL"]
            .iter()
            .find_map(|name| std::env::var(name).ok())
            .filter(|url| !url.trim().is_empty())
            .map(|url| url.trim_end_matches('/').to_owned());
        Config { public_url }
    }
}

/// Shared state, built once per process (per Lambda instance) and borrowed by every request.
pub struct App {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Config,
    pub processor: Arc<dyn PaymentProcessor>,
}

impl App {
    /// The system clock and the sandbox (test-mode) processor.
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        let processor = Arc::new(SandboxProcessor::new(Arc::clone(&store)));
        App { store, clock: Arc::new(SystemClock), config, processor }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

impl App {
    /// A Lambda instance's state: the DynamoDB table named by `TABLE_NAME`, configured the
    /// standard AWS way.
    pub async fn from_lambda_env() -> Result<Self, String> {
        let store = crate::store::dynamo::DynamoStore::from_env().await?;
        Ok(App::new(Arc::new(store), Config::from_env()))
    }
}

/// A clock that only moves when told: for tests and benchmarks that need expiry without
/// waiting.
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(std::sync::Mutex::new(start))
    }

    pub fn advance(&self, by: chrono::TimeDelta) {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
