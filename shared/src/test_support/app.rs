//! The one test app: an `App` on a store, its clock manual from a given instant, with one
//! merchant whose keys the test knows. Unit tests, black-box helpers and benchmarks build on
//! it and add their own ways of calling it.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tempfile::TempDir;

use super::{embedded_store_path, fresh_dynamo_store, fresh_embedded_store};
use crate::auth::NewMerchant;
use crate::store::Store;
use crate::{App, Config, ManualClock};

/// A merchant a test app starts with, and whose requests the fixtures' placeholders take.
#[derive(Debug, Clone, Copy)]
pub struct TestMerchant {
    pub id: &'static str,
    pub name: &'static str,
    /// `X-API-KEY`
    pub vault_key: &'static str,
    /// `X-OZURA-API-KEY`
    pub merchant_key: &'static str,
}

impl TestMerchant {
    /// `{{MERCHANT_ID}}`, `{{VAULT_KEY}}` and `{{MERCHANT_KEY}}` of the fixtures, filled in.
    pub fn placeholders(&self) -> [(&'static str, &'static str); 3] {
        [("{{MERCHANT_ID}}", self.id), ("{{VAULT_KEY}}", self.vault_key), ("{{MERCHANT_KEY}}", self.merchant_key)]
    }
}

/// An `App` with a `ManualClock` and one merchant created in its store.
pub struct TestApp {
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub merchant: TestMerchant,
    /// The directory of an embedded store, removed when the app is dropped (after the store,
    /// fields dropping in order); None for other stores.
    pub dir: Option<TempDir>,
}

impl TestApp {
    /// An app on `store` with the default configuration, the clock at `start` and `merchant`
    /// created (at `start`).
    pub async fn start(store: Arc<dyn Store>, merchant: TestMerchant, start: DateTime<Utc>) -> TestApp {
        let clock = Arc::new(ManualClock::new(start));
        let mut app = App::new(store, Config::default());
        app.clock = clock.clone();
        let keys = (merchant.vault_key.to_owned(), merchant.merchant_key.to_owned());
        let created = NewMerchant::with_keys(merchant.id, merchant.name, keys.0, keys.1, app.now());
        app.store
            .create_merchant(&created.merchant)
            .await
            .unwrap_or_else(|e| panic!("cannot create merchant {}: {e}", merchant.id));
        TestApp { app, clock, merchant, dir: None }
    }

    /// [`TestApp::start`] on an embedded store in a fresh temporary directory, which the app
    /// keeps.
    pub async fn embedded(merchant: TestMerchant, start: DateTime<Utc>) -> TestApp {
        let (store, dir) = fresh_embedded_store();
        TestApp { dir: Some(dir), ..TestApp::start(Arc::new(store), merchant, start).await }
    }

    /// [`TestApp::start`] on a DynamoDB store on a fresh table in moto_server.
    pub async fn dynamodb(merchant: TestMerchant, start: DateTime<Utc>) -> TestApp {
        TestApp::start(Arc::new(fresh_dynamo_store().await), merchant, start).await
    }

    /// Moves the clock on.
    pub fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
    }

    /// The embedded store's file; None for other stores.
    pub fn store_file(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(embedded_store_path)
    }
}

/// Creates a link with `create` (a create-link request), opens it and pays it with the sandbox's
/// approved card, through the handlers as Lambda calls them; returns the paid session.
pub async fn pay_new_link(app: &App, create: lambda_http::Request) -> crate::model::SessionId {
    use crate::api::{Endpoint, handle};
    use crate::checkout::processor::TEST_CARD_SUCCESS;

    let created = handle(Endpoint::CreateLink, create, app).await;
    assert_eq!(created.status(), 201, "create: {:?}", created.body());
    let created: serde_json::Value = serde_json::from_slice(created.body()).expect("a JSON body");
    let link = created["data"]["paymentLinkId"].as_str().expect("a link id");
    let opened = handle(Endpoint::OpenLink, super::open_event(link), app).await;
    let location = opened.headers()["location"].to_str().expect("a location");
    let session: crate::model::SessionId =
        location.rsplit('/').next().and_then(|id| id.parse().ok()).expect("a session");
    let stored = app.store.get_session(&session).await.expect("the store").expect("the session");
    let paid = handle(Endpoint::Pay, super::pay_event(&session, &stored.form_token, TEST_CARD_SUCCESS), app).await;
    assert_eq!(paid.status(), 303, "pay: {:?}", paid.body());
    session
}
