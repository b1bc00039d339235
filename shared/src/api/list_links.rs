//! `GET /api/payment-links?limit=&cursor=&status=`: the merchant's links, newest first, in
//! pages with opaque cursors (DynamoDB index query; never a scan).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use super::views::link_view;
use super::{Caller, json, public_base_url};
use crate::app::App;
use crate::error::ApiError;
use crate::links;
use crate::model::{LinkId, LinkStatus};
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
    let cursor = match query.first("cursor") {
        None => None,
        Some(text) => decode_cursor(text).map(Some).unwrap_or_else(|| {
            errors.push("cursor: is not a cursor this API returned".to_owned());
            None
        }),
    };
    let status = match query.first("status") {
        None => None,
        Some(text) => LinkStatus::ALL.into_iter().find(|status| status.as_str() == text).or_else(|| {
            let statuses: Vec<&str> = LinkStatus::ALL.iter().map(|status| status.as_str()).collect();
            errors.push(format!("status: must be one of {}", statuses.join(", ")));
            None
        }),
    };
    if !errors.is_empty() {
        return Err(ValidationErrors(errors).into());
    }

    let now = app.now();
    let page = links::list(app.store.as_ref(), caller.merchant()?, limit, cursor.as_ref(), status, now).await?;
    let base = public_base_url(request, app);
    let data: Vec<_> = page.links.iter().map(|link| link_view(link, now, &base)).collect();
    let next_cursor = page.next.as_ref().map(encode_cursor);
    let body = json!({ "success": true, "data": data, "hasMore": next_cursor.is_some(), "nextCursor": next_cursor });
    Ok(json(StatusCode::OK, &body))
}

fn encode_cursor(id: &LinkId) -> String {
    URL_SAFE_NO_PAD.encode(id.as_str())
}

fn decode_cursor(text: &str) -> Option<LinkId> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    String::from_utf8(bytes).ok()?.parse().ok()
}
