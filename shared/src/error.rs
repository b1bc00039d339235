//! Every failure a client can see, with its stable code, mapped to HTTP in exactly one place.

use lambda_http::http::StatusCode;

use crate::model::{Appearance, PaymentAttempt, SessionStatus, Unavailable};
use crate::store::StoreError;
use crate::validate::ValidationErrors;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("The request is invalid: fix the fields listed in details.")]
    Validation(#[from] ValidationErrors),
    #[error("The {0} header is required.")]
    MissingKey(&'static str),
    #[error("The API keys are not valid.")]
    InvalidKeys,
    #[error("These API keys do not belong to merchant {0}.")]
    WrongMerchant(String),
    #[error("No payment link with this id.")]
    LinkNotFound,
    #[error("No checkout session with this id.")]
    SessionNotFound,
    #[error("No webhook endpoint with this id.")]
    WebhookEndpointNotFound,
    #[error("No event with this id.")]
    EventNotFound,
    #[error("No such route.")]
    RouteNotFound,
    #[error("This route does not accept that method.")]
    MethodNotAllowed,
    #[error("This Idempotency-Key was used with a different request body; use a new key for a new request.")]
    IdempotencyKeyReused,
    #[error("This checkout form is out of date. Reload the page and try again.")]
    StaleForm,
    #[error("{}", .0.sentence())]
    LinkUnavailable(Unavailable),
    /// The link stopped taking payments while the customer was on the page; not charged.
    #[error("{}", .reason.sentence())]
    LinkStoppedTakingPayments { reason: Unavailable, back_url: String },
    /// Expired, cancelled or failed: this session can no longer be paid.
    #[error("This checkout session can no longer be paid.")]
    SessionClosed { status: SessionStatus, back_url: String },
    /// Another submit of this session is being charged right now.
    #[error("A payment for this checkout session is in progress.")]
    PaymentInProgress,
    /// Too many declined cards on this link, or too many attempts declined or still in flight
    /// from this client (an attempt counts from its start, see `checkout::guard`): refused
    /// before charging.
    #[error("Too many payment attempts declined or still in progress; retry after {0} seconds.")]
    TooManyAttempts(u64),
    #[error("The request body is larger than {0} bytes.")]
    BodyTooLarge(usize),
    /// A webhook whose signature does not check out: what is wrong, never the secret.
    #[error("The webhook signature is not valid: {0}")]
    InvalidSignature(String),
    /// Stripe's webhook arrived at a deployment with no signing secret configured.
    #[error("This deployment has no Stripe webhook signing secret (STRIPE_WEBHOOK_SECRET).")]
    WebhookNotConfigured,
    #[error("Send the body as JSON with Content-Type: application/json.")]
    UnsupportedMediaType,
    #[error("Too many requests; retry after {0} seconds.")]
    RateLimited(u64),
    #[error("The service is busy or its store is unreachable; retry shortly.")]
    StoreUnavailable,
    /// The processor did not answer a charge: it may or may not have happened. A retry after
    /// the attempt's lease takes the attempt over with the same idempotency key.
    #[error("The payment processor did not answer; retry after the given seconds (never charged twice).")]
    ProcessorUnavailable,
    /// A bug or broken data on our side. The detail goes to the log, never to the client.
    #[error("Something went wrong on our side; it has been logged.")]
    Internal(String),
    /// An error a customer meets on one merchant's checkout: everything is the inner error's,
    /// and its page wears the merchant's appearance.
    #[error("{0}")]
    Branded(Box<ApiError>, Box<Appearance>),
}

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 1;

impl ApiError {
    /// This error as a page of the merchant whose `appearance` it is (unchanged without one).
    pub fn branded(self, appearance: &Appearance) -> ApiError {
        if appearance.is_empty() { self } else { ApiError::Branded(Box::new(self), Box::new(appearance.clone())) }
    }

    /// The error itself and the merchant appearance its page wears, if any.
    pub fn unbranded(&self) -> (&ApiError, Option<&Appearance>) {
        match self {
            ApiError::Branded(error, appearance) => (error, Some(appearance)),
            error => (error, None),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Branded(error, _) => error.status(),
            ApiError::Validation(_) | ApiError::InvalidSignature(_) => StatusCode::BAD_REQUEST,
            ApiError::MissingKey(_) | ApiError::InvalidKeys => StatusCode::UNAUTHORIZED,
            ApiError::WrongMerchant(_) | ApiError::StaleForm => StatusCode::FORBIDDEN,
            ApiError::LinkNotFound
            | ApiError::SessionNotFound
            | ApiError::WebhookEndpointNotFound
            | ApiError::EventNotFound
            | ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            // DESIGN: 410 for an expired session, 409 for one cancelled (or failed) already.
            ApiError::LinkUnavailable(_) | ApiError::SessionClosed { status: SessionStatus::Expired, .. } => {
                StatusCode::GONE
            }
            ApiError::SessionClosed { .. } => StatusCode::CONFLICT,
            ApiError::LinkStoppedTakingPayments { .. }
            | ApiError::PaymentInProgress
            | ApiError::IdempotencyKeyReused => StatusCode::CONFLICT,
            ApiError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited(_) | ApiError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::StoreUnavailable | ApiError::ProcessorUnavailable | ApiError::WebhookNotConfigured => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable, machine-readable: clients branch on this, never on the sentence.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Branded(error, _) => error.code(),
            ApiError::Validation(_) => "validation_failed",
            ApiError::MissingKey(_) => "missing_api_key",
            ApiError::InvalidKeys => "invalid_api_key",
            ApiError::WrongMerchant(_) => "merchant_mismatch",
            ApiError::StaleForm => "stale_form",
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::LinkNotFound => "link_not_found",
            ApiError::SessionNotFound => "session_not_found",
            ApiError::WebhookEndpointNotFound => "webhook_endpoint_not_found",
            ApiError::EventNotFound => "event_not_found",
            ApiError::RouteNotFound => "route_not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::LinkUnavailable(reason) | ApiError::LinkStoppedTakingPayments { reason, .. } => reason.code(),
            ApiError::SessionClosed { .. } => "session_closed",
            ApiError::PaymentInProgress => "payment_in_progress",
            ApiError::TooManyAttempts(_) => "too_many_attempts",
            ApiError::BodyTooLarge(_) => "body_too_large",
            ApiError::InvalidSignature(_) => "invalid_signature",
            ApiError::WebhookNotConfigured => "webhook_not_configured",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::StoreUnavailable => "store_unavailable",
            ApiError::ProcessorUnavailable => "processor_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// The body every JSON error shares: `{"success":false,"error","code"[,"details"]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::json!({ "success": false, "error": self.to_string(), "code": self.code() });
        if let ApiError::Validation(ValidationErrors(details)) = self {
            body["details"] = serde_json::json!(details);
        }
        body
    }

    /// Seconds the client should wait before retrying, for 429 and 503.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Branded(error, _) => error.retry_after(),
            ApiError::RateLimited(seconds) | ApiError::TooManyAttempts(seconds) => Some(*seconds),
            ApiError::StoreUnavailable => Some(u64::from(RETRY_AFTER_SECONDS)),
            ApiError::ProcessorUnavailable => Some(PaymentAttempt::LEASE.num_seconds().unsigned_abs()),
            _ => None,
        }
    }

    /// What the log should say beyond the code: internal detail stays here.
    pub fn log_detail(&self) -> Option<&str> {
        match self {
            ApiError::Branded(error, _) => error.log_detail(),
            ApiError::Internal(detail) => Some(detail),
            _ => None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => {
                tracing::warn!(store_error = %detail, "store unavailable");
                ApiError::StoreUnavailable
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}
