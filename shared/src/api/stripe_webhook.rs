//! `POST /webhooks/stripe`: Stripe's events about our PaymentIntents. The route's access
//! (`Access::Stripe`) has checked the signature; what an event changes is in `checkout`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use super::{Caller, json};
use crate::app::App;
use crate::checkout::Cashier;
use crate::checkout::stripe::webhook::Event;
use crate::error::ApiError;
use crate::validate::ValidationErrors;

pub async fn handle(request: &Request, app: &App, _: &Caller) -> Result<Response<Body>, ApiError> {
    let event: Event = serde_json::from_slice(request.body())
        .map_err(|e| ApiError::Validation(ValidationErrors(vec![format!("body: not a Stripe event ({e})")])))?;
    Cashier::of(app).on_stripe_event(&event).await?;
    // Any 2xx tells Stripe to stop retrying; an error makes it retry for up to three days.
    Ok(json(StatusCode::OK, &serde_json::json!({ "received": true })))
}
