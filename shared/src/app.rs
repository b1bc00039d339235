//! What every handler is given: the store, the clock and the configuration.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::checkout::processor::{PaymentProcessor, SandboxProcessor};
use crate::store::{ChargeLedger, Store};

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

#[derive(Debug, Clone)]
pub struct Config {
    /// Base of the URLs handed to customers, e.g. `https://pay.example.com`. When unset, the
    /// request's own host is used (API Gateway's domain, always https).
    pub public_url: Option<String>,
    /// Take the client's IP from `X-Forwarded-For` (only behind a proxy you trust, such as
    /// CloudFront in front of API Gateway); otherwise API Gateway's `sourceIp`.
    pub trust_forwarded_for: bool,
    /// Merchant API requests allowed per merchant per minute; 0 turns the limit off.
    pub api_requests_per_minute: u64,
}

/// Default for `PAYLINKS_API_RATE_LIMIT`.
pub const DEFAULT_API_REQUESTS_PER_MINUTE: u64 = 600;

impl Default for Config {
    fn default() -> Self {
        Config {
            public_url: None,
            trust_forwarded_for: false,
            api_requests_per_minute: DEFAULT_API_REQUESTS_PER_MINUTE,
        }
    }
}

impl Config {
    /// Reads `PUBLIC_BASE_URL` (Lambda) or `PAYLINKS_PUBLIC_URL` (local).
    pub fn from_env() -> Self {
        let public_url = ["PUBLIC_BASE_URL", "PAYLINKS_PUBLIC_URL"]
            .iter()
            .find_map(|name| std::env::var(name).ok())
            .filter(|url| !url.trim().is_empty())
            .map(|url| url.trim_end_matches('/').to_owned());
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Config {
            public_url,
            trust_forwarded_for: env("PAYLINKS_TRUST_FORWARDED_FOR").is_some_and(|v| v == "1" || v == "true"),
            api_requests_per_minute: env("PAYLINKS_API_RATE_LIMIT")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(DEFAULT_API_REQUESTS_PER_MINUTE),
        }
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
        let ledger: Arc<dyn ChargeLedger> = store.clone();
        let processor = Arc::new(SandboxProcessor::new(ledger));
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
