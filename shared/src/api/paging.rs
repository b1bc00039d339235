//! The paging part of a listing's query, shared by every list route: `limit` and an opaque
//! cursor (the base64url of the last id of the page before).

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::{Request, RequestExt};

use super::http::query_once;

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

/// `limit` (1 to 100, default 20) and the cursor named `cursor_name`, each bad one named in
/// `errors`.
pub(crate) fn page_query<Id: FromStr>(
    request: &Request,
    cursor_name: &str,
    errors: &mut Vec<String>,
) -> (usize, Option<Id>) {
    let query = request.query_string_parameters();
    let limit = match query_once(&query, "limit", errors).map(str::parse::<usize>) {
        None => DEFAULT_LIMIT,
        Some(Ok(limit)) if (1..=MAX_LIMIT).contains(&limit) => limit,
        Some(_) => {
            errors.push(format!("limit: must be a whole number from 1 to {MAX_LIMIT}"));
            DEFAULT_LIMIT
        }
    };
    let cursor = query_once(&query, cursor_name, errors).and_then(|text| {
        let decoded = decode_cursor(text);
        if decoded.is_none() {
            errors.push(format!("{cursor_name}: is not a cursor this API returned (nextCursor)"));
        }
        decoded
    });
    (limit, cursor)
}

/// The `nextCursor` of a page whose last item is `id`.
pub(crate) fn encode_cursor(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

fn decode_cursor<Id: FromStr>(text: &str) -> Option<Id> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    String::from_utf8(bytes).ok()?.parse().ok()
}
