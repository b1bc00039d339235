//! A merchant's links, newest first, in pages (a DynamoDB index query; never a scan).

use chrono::{DateTime, Utc};

use crate::error::ApiError;
use crate::model::{LinkId, LinkStatus, Merchant};
use crate::store::{LinkPage, Links};

/// At most `limit` of `merchant`'s links older than `before`, keeping only those with
/// `status` when given. The filter applies within the page: a filtered page may hold fewer
/// links, and `next` still walks every link exactly once.
pub async fn list(
    links: &dyn Links,
    merchant: &Merchant,
    limit: usize,
    before: Option<&LinkId>,
    status: Option<LinkStatus>,
    now: DateTime<Utc>,
) -> Result<LinkPage, ApiError> {
    let mut page = links.list_links(&merchant.id, limit, before).await?;
    if let Some(wanted) = status {
        page.links.retain(|link| link.status(now) == wanted);
    }
    Ok(page)
}
