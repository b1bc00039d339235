//! `GET /api/payment-links?limit=&cursor=&status=`: the merchant's links, newest first, in
//! pages with opaque cursors (DynamoDB index query; never a scan).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;

use super::http::query_once;
use super::paging::{encode_cursor, page_query};
use super::views::link_view;
use super::{Caller, json, public_base_url};
use crate::app::App;
use crate::error::ApiError;
use crate::links;
use crate::model::{LinkId, LinkStatus};
use crate::validate::ValidationErrors;

pub async fn handle(request: &Request, app: &App, caller: &Caller) -> Result<Response<Body>, ApiError> {
    let query = request.query_string_parameters();
    let mut errors = Vec::new();
    let (limit, cursor) = page_query::<LinkId>(request, "cursor", &mut errors);
    let status = match query_once(&query, "status", &mut errors) {
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
    let next_cursor = page.next.as_ref().map(|id| encode_cursor(id.as_str()));
    let body = json!({ "success": true, "data": data, "hasMore": next_cursor.is_some(), "nextCursor": next_cursor });
    Ok(json(StatusCode::OK, &body))
}
