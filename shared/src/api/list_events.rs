//! `GET /api/events?type=&after=&limit=`: the merchant's events of the last 30 days, newest
//! first, for reconciliation: every payment, the link it filled, every refund. `after` is the
//! `nextCursor` of the page before.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use super::{Caller, json};
use crate::app::App;
use crate::error::ApiError;
use crate::model::{EventId, EventType};
use crate::validate::ValidationErrors;

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

pub async fn handle(request: &Request, app: &App, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let query = request.query_string_parameters();
    let mut errors = Vec::new();
    let limit = match query.first("limit").map(str::parse::<usize>) {
        None => DEFAULT_LIMIT,
        Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
        Some(_) => {
            errors.push(format!("limit: must be a whole number from 1 to {MAX_LIMIT}"));
            DEFAULT_LIMIT
        }
    };
    let after = match query.first("after") {
        None => None,
        Some(text) => decode_cursor(text).map(Some).unwrap_or_else(|| {
            errors.push("after: is not a cursor this API returned (nextCursor)".to_owned());
            None
        }),
    };
    let kind = match query.first("type") {
        None => None,
        Some(text) => EventType::parse(text).or_else(|| {
            let kinds: Vec<&str> = EventType::ALL.iter().map(|kind| kind.as_str()).collect();
            errors.push(format!("type: must be one of {}", kinds.join(", ")));
            None
        }),
    };
    if !errors.is_empty() {
        return Err(ValidationErrors(errors).into());
    }

    let merchant = caller.merchant()?;
    let page = app.store.list_events(&merchant.id, kind, limit, after.as_ref(), app.now()).await?;
    let data: Vec<_> = page.events.iter().map(|event| event.to_json()).collect();
    let next_cursor = page.next.as_ref().map(|id| URL_SAFE_NO_PAD.encode(id.as_str()));
    let body = json!({ "success": true, "data": data, "hasMore": next_cursor.is_some(), "nextCursor": next_cursor });
    Ok(json(StatusCode::OK, &body))
}

fn decode_cursor(text: &str) -> Option<EventId> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    String::from_utf8(bytes).ok()?.parse().ok()
}
