//! Webhook endpoints (one item per merchant, replaced under a version condition) and the
//! outbox: events carry `gsi2` keys while a delivery is due.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::codec::{DUE_PARTITION, event_item, from_item, to_item};
use super::errors::{classify, contention};
use super::{DECISION_ROUNDS, DynamoStore, GSI2, number};
use crate::model::{Event, EventId, WebhookEndpoint, WebhookEndpointId};
use crate::store::{StoreError, Webhooks, keys};

/// A merchant's endpoints as stored, with the version each replacement is conditioned on.
#[derive(Default, Serialize, Deserialize)]
struct Endpoints {
    #[serde(default)]
    endpoints: Vec<WebhookEndpoint>,
    #[serde(default)]
    version: u64,
}

impl DynamoStore {
    async fn endpoints_of(&self, pk: &str) -> Result<Endpoints, StoreError> {
        match self.get_item(pk).await? {
            Some(item) => from_item(pk, item),
            None => Ok(Endpoints::default()),
        }
    }

    /// Applies `change` to the merchant's endpoints, as read, in one conditional put: false when
    /// `change` declines; retried when another change got there first.
    /// The merchant's endpoint `id` replaced by `change` of it as stored; false when there is none.
    async fn change_endpoint(
        &self,
        merchant_id: &str,
        id: &WebhookEndpointId,
        change: impl Fn(&WebhookEndpoint) -> WebhookEndpoint,
    ) -> Result<bool, StoreError> {
        self.change_endpoints(merchant_id, |endpoints| match endpoints.iter_mut().find(|e| &e.id == id) {
            Some(slot) => {
                *slot = change(slot);
                true
            }
            None => false,
        })
        .await
    }

    async fn change_endpoints(
        &self,
        merchant_id: &str,
        change: impl Fn(&mut Vec<WebhookEndpoint>) -> bool,
    ) -> Result<bool, StoreError> {
        let pk = keys::webhook_endpoints(merchant_id);
        for _ in 0..DECISION_ROUNDS {
            let mut stored = self.endpoints_of(&pk).await?;
            if !change(&mut stored.endpoints) {
                return Ok(false);
            }
            let read = stored.version;
            stored.version += 1;
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(to_item(pk.clone(), &stored)))
                .condition_expression("attribute_not_exists(pk) OR #version = :read")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":read", number(read))
                .send()
                .await;
            match put {
                Ok(_) => return Ok(true),
                Err(error) if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(error) => return Err(classify(error, "webhook endpoints")),
            }
        }
        Err(contention("change webhook endpoints"))
    }
}

#[async_trait]
impl Webhooks for DynamoStore {
    async fn webhook_endpoints(&self, merchant_id: &str) -> Result<Vec<WebhookEndpoint>, StoreError> {
        Ok(self.endpoints_of(&keys::webhook_endpoints(merchant_id)).await?.endpoints)
    }

    async fn add_webhook_endpoint(&self, merchant_id: &str, endpoint: &WebhookEndpoint) -> Result<bool, StoreError> {
        self.change_endpoints(merchant_id, |endpoints| {
            let room = endpoints.len() < WebhookEndpoint::MAX_PER_MERCHANT;
            if room {
                endpoints.push(endpoint.clone());
            }
            room
        })
        .await
    }

    async fn remove_webhook_endpoint(&self, merchant_id: &str, id: &WebhookEndpointId) -> Result<bool, StoreError> {
        self.change_endpoints(merchant_id, |endpoints| {
            let before = endpoints.len();
            endpoints.retain(|endpoint| &endpoint.id != id);
            endpoints.len() < before
        })
        .await
    }

    async fn replace_webhook_endpoint(
        &self,
        merchant_id: &str,
        endpoint: &WebhookEndpoint,
    ) -> Result<bool, StoreError> {
        self.change_endpoint(merchant_id, &endpoint.id, |_| endpoint.clone()).await
    }

    async fn record_webhook_endpoint_health(
        &self,
        merchant_id: &str,
        endpoint: &WebhookEndpoint,
    ) -> Result<bool, StoreError> {
        self.change_endpoint(merchant_id, &endpoint.id, |stored| stored.clone().with_health_of(endpoint)).await
    }

    async fn due_events(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Event>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("#gsi2pk = :due AND #gsi2sk <= :now")
            .expression_attribute_names("#gsi2pk", "gsi2pk")
            .expression_attribute_names("#gsi2sk", "gsi2sk")
            .expression_attribute_values(":due", AttributeValue::S(DUE_PARTITION.to_owned()))
            .expression_attribute_values(":now", AttributeValue::S(keys::due(now)))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| classify(e, "due events"))?;
        // The index is eventually consistent: each event is read again from the table, so a
        // delivery just recorded is never attempted again from a stale copy.
        let mut events = Vec::new();
        for item in output.items.unwrap_or_default() {
            let listed: Event = from_item("gsi2", item)?;
            if let Some(event) = self.get_event(&listed.id).await? {
                if event.due_at.is_some_and(|due| due <= now) {
                    events.push(event);
                }
            }
        }
        Ok(events)
    }

    async fn get_event(&self, id: &EventId) -> Result<Option<Event>, StoreError> {
        let pk = keys::event(id);
        self.get_item(&pk).await?.map(|item| from_item(&pk, item)).transpose()
    }

    async fn record_deliveries(&self, event: &Event) -> Result<bool, StoreError> {
        let read_at = event.revision;
        // Items written before revisions have none: revision 0.
        let unchanged =
            if read_at == 0 { "(attribute_not_exists(#revision) OR #revision = :read)" } else { "#revision = :read" };
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(event_item(&Event { revision: read_at + 1, ..event.clone() })))
            .condition_expression(format!("attribute_exists(pk) AND {unchanged}"))
            .expression_attribute_names("#revision", "revision")
            .expression_attribute_values(":read", AttributeValue::N(read_at.to_string()))
            .send()
            .await;
        match put {
            // Recorded by someone else since, or swept (30 days).
            Err(error) if error.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(false)
            }
            other => other.map(|_| true).map_err(|e| classify(e, "record deliveries")),
        }
    }
}
