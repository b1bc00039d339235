//! A merchant's links, newest first, in pages (a DynamoDB index query; never a scan).

use chrono::{DateTime, Utc};

use crate::error::ApiError;
use crate::model::{LinkId, LinkStatus, Merchant};
use crate::store::{LinkPage, Links};

/// Index queries one filtered page may take before it answers with what it has found (and a
/// cursor to go on from): a merchant whose links are almost all of another status cannot make
/// one request read them all.
const MAX_QUERIES_PER_PAGE: usize = 10;

/// At most `limit` of `merchant`'s links older than `before`, newest first, keeping only those
/// with `status` when given. A filtered page is filled from the following links as far as
/// [`MAX_QUERIES_PER_PAGE`] allows; `next` continues after the last link read, so walking the
/// cursor still meets every link exactly once.
pub async fn list(
    links: &dyn Links,
    merchant: &Merchant,
    limit: usize,
    before: Option<&LinkId>,
    status: Option<LinkStatus>,
    now: DateTime<Utc>,
) -> Result<LinkPage, ApiError> {
    let Some(wanted) = status else { return Ok(links.list_links(&merchant.id, limit, before).await?) };
    let mut found = Vec::new();
    let mut cursor = before.cloned();
    for _ in 0..MAX_QUERIES_PER_PAGE {
        let page = links.list_links(&merchant.id, limit, cursor.as_ref()).await?;
        let read = page.links.len();
        for (position, link) in page.links.into_iter().enumerate() {
            if link.status(now) != wanted {
                continue;
            }
            let id = link.id.clone();
            found.push(link);
            if found.len() == limit {
                // Full: go on after this link, unless it was the merchant's last.
                let more = position + 1 < read || page.next.is_some();
                return Ok(LinkPage { links: found, next: more.then_some(id) });
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }
    Ok(LinkPage { links: found, next: cursor })
}
