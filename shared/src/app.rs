//! What every handler is given: the store, the clock and the configuration.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::checkout::Cashier;
use crate::checkout::processor::{CardEntry, PaymentProcessor, SandboxProcessor};
use crate::clock::{Clock, SystemClock};
use crate::store::{ChargeLedger, Store};

#[derive(Debug, Clone)]
pub struct Config {
    /// Base of the URLs handed to customers, e.g. `https://pay.example.com`. When unset, the
    /// request's own host is used (API Gateway's domain, always https).
    pub public_url: Option<String>,
    /// How many proxies the deployment trusts in front of API Gateway (CloudFront: 1). With
    /// one or more, the client's IP is the `X-Forwarded-For` entry that many from the right
    /// (each proxy appends the address it saw); with 0, API Gateway's `sourceIp`.
    pub trusted_proxy_hops: usize,
    /// Merchant API requests allowed per merchant per minute; 0 turns the limit off.
    pub api_requests_per_minute: u64,
    /// Checkout sessions one client address may open per minute; 0 turns the limit off.
    pub opens_per_client_per_minute: u64,
    /// The processor (`PAYLINKS_PROCESSOR`) as the checkout page needs it: our own card form
    /// (sandbox) or Stripe.js's card field.
    pub card_entry: CardEntry,
    /// Where merchants' webhooks may point: public https only, except for local development.
    pub webhook_targets: WebhookTargets,
}

/// Where merchants' webhook endpoints may point (server-side request forgery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebhookTargets {
    /// https to public addresses only, checked on the addresses actually connected to.
    #[default]
    PublicHttps,
    /// http and loopback too: `paylinks serve`, for local development (it says so at start).
    Anywhere,
}

/// Default for `PAYLINKS_API_RATE_LIMIT`.
pub const DEFAULT_API_REQUESTS_PER_MINUTE: u64 = 600;

/// Default for `PAYLINKS_OPEN_RATE_LIMIT`: a person opening a link (or a handful) never comes
/// near it; a script filling the store with sessions does.
pub const DEFAULT_OPENS_PER_CLIENT_PER_MINUTE: u64 = 60;

impl Default for Config {
    fn default() -> Self {
        Config {
            public_url: None,
            trusted_proxy_hops: 0,
            api_requests_per_minute: DEFAULT_API_REQUESTS_PER_MINUTE,
            opens_per_client_per_minute: DEFAULT_OPENS_PER_CLIENT_PER_MINUTE,
            card_entry: CardEntry::Form,
            webhook_targets: WebhookTargets::PublicHttps,
        }
    }
}

impl Config {
    /// Reads `PUBLIC_BASE_URL` (Lambda) or `PAYLINKS_PUBLIC_URL` (local), the limits and the
    /// processor's public settings; a processor setting that cannot work is an error.
    pub fn from_env() -> Result<Self, String> {
        let public_url = ["PUBLIC_BASE_URL", "PAYLINKS_PUBLIC_URL"]
            .iter()
            .find_map(|name| std::env::var(name).ok())
            .filter(|url| !url.trim().is_empty())
            .map(|url| url.trim_end_matches('/').to_owned());
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Ok(Config {
            public_url,
            // `true` (the older spelling) is one hop.
            trusted_proxy_hops: env("PAYLINKS_TRUST_FORWARDED_FOR")
                .map(|v| if v.trim() == "true" { 1 } else { v.trim().parse().unwrap_or(0) })
                .unwrap_or(0),
            api_requests_per_minute: env("PAYLINKS_API_RATE_LIMIT")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(DEFAULT_API_REQUESTS_PER_MINUTE),
            opens_per_client_per_minute: env("PAYLINKS_OPEN_RATE_LIMIT")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(DEFAULT_OPENS_PER_CLIENT_PER_MINUTE),
            card_entry: CardEntry::from_env(env)?,
            webhook_targets: WebhookTargets::PublicHttps,
        })
    }
}

/// Shared state, built once per process (per Lambda instance) and borrowed by every request.
pub struct App {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Config,
    pub processor: Arc<dyn PaymentProcessor>,
    /// Stripe's webhook signing secret (`STRIPE_WEBHOOK_SECRET`), where Stripe's webhooks are
    /// taken: `serve` and the stripe-webhook function.
    pub stripe_webhook_secret: Option<secrecy::SecretString>,
}

impl App {
    /// The system clock and the sandbox (test-mode) processor.
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        let ledger: Arc<dyn ChargeLedger> = store.clone();
        let processor = Arc::new(SandboxProcessor::new(ledger));
        App { store, clock: Arc::new(SystemClock), config, processor, stripe_webhook_secret: None }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

impl App {
    /// A Lambda instance's state: the DynamoDB table named by `TABLE_NAME`, with the function's
    /// region and role.
    pub async fn from_lambda_env() -> Result<Self, String> {
        let store = crate::store::dynamo::DynamoStore::from_lambda_env().await?;
        Ok(App::new(Arc::new(store), Config::from_env()?))
    }

    /// Replaces the sandbox with the processor the configuration names: for Stripe, with the
    /// secret key read once (`STRIPE_SECRET_KEY`, on Lambda from SSM). Only the functions that
    /// charge or stop a charge (pay, cancel, the Stripe webhook) and `serve` call this, so only
    /// they link Stripe.
    #[cfg(feature = "stripe")]
    pub async fn with_configured_processor(mut self) -> Result<Self, String> {
        if let CardEntry::StripeJs(stripe_js) = &self.config.card_entry {
            let secret_key = crate::secrets::secret("STRIPE_SECRET_KEY").await?;
            let stripe = crate::checkout::stripe::StripeProcessor::new(stripe_js.clone(), secret_key)?;
            self.processor = Arc::new(stripe);
        }
        Ok(self)
    }

    /// Reads Stripe's webhook signing secret (`STRIPE_WEBHOOK_SECRET`, on Lambda from SSM),
    /// for the function that takes Stripe's webhooks; `serve` takes them only when it is set.
    #[cfg(feature = "stripe")]
    pub async fn with_stripe_webhook_secret(mut self, required: bool) -> Result<Self, String> {
        match crate::secrets::secret("STRIPE_WEBHOOK_SECRET").await {
            Ok(secret) => self.stripe_webhook_secret = Some(secret),
            Err(error) if required => return Err(error),
            Err(_) => {}
        }
        Ok(self)
    }
}

impl<'a> Cashier<'a, dyn Store> {
    /// The cashier of this process: its store, processor and clock.
    pub fn of(app: &'a App) -> Self {
        Cashier { store: app.store.as_ref(), processor: app.processor.as_ref(), clock: app.clock.as_ref() }
    }
}
