//! What is stored and what every layer speaks of: merchants, payment links, checkout sessions,
//! the processor's charge records and idempotency records. Depends on nothing but `money`.

mod appearance;
mod charge;
mod event;
mod idempotency;
mod ids;
mod link;
mod merchant;
mod session;
mod webhook;

pub use appearance::{Appearance, HexColor, InvalidColor};
pub use charge::{ChargeOutcome, ChargeRecord, DeclineReason};
pub use event::{Event, EventType};
pub use idempotency::IdempotencyRecord;
pub use ids::{EventId, InvalidId, LinkId, SessionId, WebhookEndpointId};
pub use link::{Cart, Checkout, DonationConfig, Item, LinkStatus, PaymentLink, Unavailable};
pub use merchant::Merchant;
pub use session::{CheckoutSession, FailureCode, PaymentAttempt, PaymentResult, RateCounter, SessionStatus};
pub use webhook::{Deliveries, Delivery, DeliveryAttempt, WebhookEndpoint};
