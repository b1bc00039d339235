//! `GET /api/payment-links?limit=&cursor=&status=`: the merchant's links, newest first, in
//! pages with opaque cursors (DynamoDB index query; never a scan).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use super::link_view::{link_view, status};
use super::{json, public_base_url};
use crate::app::App;
use crate::auth::authenticate;
use crate::error::ApiError;
use crate::model::LinkId;
use crate::validate::ValidationErrors;

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;
const STATUSES: [&str; 4] = ["active", "inactive", "expired", "limit_reached"];

pub async fn handle(request: &Request, app: &App) -> Result<Response<Body>, ApiError> {
    let merchant = authenticate(request, app).await?;
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
    let wanted_status = query.first("status");
    if wanted_status.is_some_and(|s| !STATUSES.contains(&s)) {
        errors.push(format!("status: must be one of {}", STATUSES.join(", ")));
    }
    if !errors.is_empty() {
        return Err(ValidationErrors(errors).into());
    }

    let page = app.store.list_links(&merchant.id, limit, cursor.as_ref()).await?;
    let (now, base) = (app.now(), public_base_url(request, app));
    // The status filter applies within the page: a filtered page may hold fewer links, and
    // the cursor still walks every link exactly once.
    let links: Vec<_> = page
        .links
        .iter()
        .filter(|link| wanted_status.is_none_or(|wanted| status(link, now) == wanted))
        .map(|link| link_view(link, now, &base))
        .collect();
    let next_cursor = page.next.as_ref().map(encode_cursor);
    let body = json!({ "success": true, "data": links, "hasMore": next_cursor.is_some(), "nextCursor": next_cursor });
    Ok(json(StatusCode::OK, &body))
}

fn encode_cursor(id: &LinkId) -> String {
    URL_SAFE_NO_PAD.encode(id.as_str())
}

fn decode_cursor(text: &str) -> Option<LinkId> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    String::from_utf8(bytes).ok()?.parse().ok()
}
