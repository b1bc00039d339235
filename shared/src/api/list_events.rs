//! `GET /api/events?type=&after=&limit=`: the merchant's events of the last 30 days, newest
//! first, for reconciliation: every payment, the link it filled, every refund. `after` is the
//! `nextCursor` of the page before.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use super::http::query_once;
use super::paging::{encode_cursor, page_query};
use super::{Caller, json};
use crate::app::App;
use crate::error::ApiError;
use crate::model::{EventId, EventType};
use crate::validate::ValidationErrors;

pub async fn handle(request: &Request, app: &App, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let query = request.query_string_parameters();
    let mut errors = Vec::new();
    let (limit, after) = page_query::<EventId>(request, "after", &mut errors);
    let kind = match query_once(&query, "type", &mut errors) {
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
    let next_cursor = page.next.as_ref().map(|id| encode_cursor(id.as_str()));
    let body = json!({ "success": true, "data": data, "hasMore": next_cursor.is_some(), "nextCursor": next_cursor });
    Ok(json(StatusCode::OK, &body))
}
