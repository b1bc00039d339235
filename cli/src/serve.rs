//! `paylinks serve`: the whole service in one process, handing each HTTP request to the same
//! handlers the Lambda functions run, shaped as API Gateway would shape it.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use paylinks_core::api::{self, MAX_BODY_BYTES};
use paylinks_core::app::WebhookTargets;
use paylinks_core::auth::{NewMerchant, hash_key};
use paylinks_core::error::ApiError;
use paylinks_core::model::Merchant;
use paylinks_core::store::embedded::EmbeddedStore;
use paylinks_core::store::{Store, StoreError};
use paylinks_core::validate::ValidationErrors;
use paylinks_core::webhooks::Sender;
use paylinks_core::webhooks::dispatch::deliver_every;
use paylinks_core::{App, Config};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::setup::{ChosenStore, data_dir, open_chosen_store};

pub async fn run() -> Result<(), String> {
    let addr: SocketAddr = std::env::var("PAYLINKS_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
        .parse()
        .map_err(|e| format!("PAYLINKS_ADDR must be host:port: {e}"))?;
    let store: Arc<dyn Store> = match open_chosen_store().await? {
        ChosenStore::Embedded(embedded) => {
            tokio::spawn(sweep_every_hour(embedded.clone()));
            Arc::new(embedded)
        }
        ChosenStore::Dynamo(dynamo) => Arc::new(dynamo),
    };
    let demo = ensure_demo_merchant(store.as_ref()).await?;
    let mut config = Config::from_env()?;
    let public_url = config.public_url.get_or_insert_with(|| format!("http://{addr}")).clone();
    // Local development: merchants' webhooks may point at http and loopback receivers.
    config.webhook_targets = WebhookTargets::Anywhere;
    let app = App::new(store, config).with_configured_processor().await?.with_stripe_webhook_secret(false).await?;
    let app = Arc::new(app);
    let sender = Sender::new(app.config.webhook_targets)?;
    let dispatcher = app.clone();
    tokio::spawn(async move {
        let period = std::time::Duration::from_secs(1);
        deliver_every(period, dispatcher.store.as_ref(), &sender, || dispatcher.now()).await;
    });

    let listener = TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    // To the terminal (stderr): stdout carries only the JSON log lines, which never hold a key.
    eprintln!("Payment links is running at {public_url} (listening on {addr})");
    eprintln!("Processor: {}", app.config.card_entry.processor_name());
    eprintln!("Webhooks: delivered from this process; http and loopback URLs allowed (local development only)");
    match &demo.kept_in {
        None => eprintln!("Demo merchant: {} (keys from PAYLINKS_DEMO_MERCHANT)", demo.id),
        Some(path) => {
            eprintln!("Demo merchant: {} (keys kept in {})", demo.id, path.display());
            eprintln!("  X-API-KEY:       {}", demo.vault_key);
            eprintln!("  X-OZURA-API-KEY: {}", demo.merchant_key);
        }
    }

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let app = Arc::clone(&app);
                async move { Ok::<_, Infallible>(respond(request, peer, &app).await) }
            });
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
}

async fn respond(request: hyper::Request<Incoming>, peer: SocketAddr, app: &App) -> hyper::Response<Full<Bytes>> {
    if request.method() == hyper::Method::GET && request.uri().path() == HEALTH_PATH {
        return health(app).await;
    }
    let (parts, body) = request.into_parts();
    let body = read_body_capped(body).await;
    let query = parts.uri.query().map(parse_query).unwrap_or_default();
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.request_id = Some(ulid::Ulid::new().to_string());
    context.http.method = parts.method.clone();
    context.http.path = Some(parts.uri.path().to_owned());
    context.http.source_ip = Some(peer.ip().to_string());
    let complete = body.is_some();
    let request = lambda_http::http::Request::from_parts(parts, Body::from(body.unwrap_or_default()))
        .with_query_string_parameters(query)
        .with_request_context(RequestContext::ApiGatewayV2(context));

    // A body cut off mid-way is never handed on: a form truncated after `customAmount=10` of
    // `customAmount=1000` would otherwise be a valid, smaller payment.
    let response = match complete {
        true => api::handle_routed(request, app).await,
        false => {
            let unread = ValidationErrors(vec!["body: could not be read to its end".to_owned()]);
            api::refuse(&request, &ApiError::Validation(unread))
        }
    };
    let (parts, body) = response.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}

/// What DynamoDB's TTL does for the table, for the embedded store: expired items (unpaid
/// sessions a day after they expire, counters after their window, links 90 days after) are
/// deleted, now and every hour.
async fn sweep_every_hour(store: EmbeddedStore) {
    let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        hourly.tick().await;
        match store.sweep_expired(chrono::Utc::now()).await {
            Ok(swept) => tracing::info!(swept, "embedded store swept"),
            Err(error) => tracing::warn!(store_error = %error, "embedded store sweep failed"),
        }
    }
}

/// For a load balancer or a container runtime: not an API route (API Gateway has its own).
const HEALTH_PATH: &str = "/health";

/// 200 `{"status":"ok"}` when the store answers a read, 503 `{"status":"store_unavailable"}`
/// when it does not.
async fn health(app: &App) -> hyper::Response<Full<Bytes>> {
    // A lookup of a key hash no merchant has: a real read, and never a hit.
    let (status, body) = match app.store.find_merchant_by_key("health-check").await {
        Ok(_) => (hyper::StatusCode::OK, r#"{"status":"ok"}"#),
        Err(error) => {
            tracing::warn!(store_error = %error, "health check: store unavailable");
            (hyper::StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"store_unavailable"}"#)
        }
    };
    hyper::Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("static headers are valid")
}

/// Reads at most one byte more than the handlers accept: enough for them to answer 413
/// without this process buffering an arbitrarily large upload. None when the body could not
/// be read to its end (the client went away, a malformed chunk).
async fn read_body_capped(mut body: Incoming) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    while bytes.len() <= MAX_BODY_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    bytes.extend_from_slice(data);
                }
            }
            Some(Err(_)) => return None,
            None => break,
        }
    }
    bytes.truncate(MAX_BODY_BYTES + 1);
    Some(bytes)
}

fn parse_query(query: &str) -> std::collections::HashMap<String, Vec<String>> {
    let mut parameters = std::collections::HashMap::<String, Vec<String>>::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        parameters.entry(key.into_owned()).or_default().push(value.into_owned());
    }
    parameters
}

/// The local demo merchant's keys, kept in the data directory so they survive restarts.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DemoMerchant {
    id: String,
    vault_key: String,
    merchant_key: String,
    /// The file the keys are kept in; None when they came from `PAYLINKS_DEMO_MERCHANT`.
    #[serde(skip)]
    kept_in: Option<std::path::PathBuf>,
}

const DEMO_MERCHANT_NAME: &str = "Demo Store";

/// `PAYLINKS_DEMO_MERCHANT="id:vaultKey:merchantKey"` fixes the demo merchant's keys;
/// otherwise they are generated on first start and kept in `<data>/demo-merchant.json`.
async fn ensure_demo_merchant(store: &dyn Store) -> Result<DemoMerchant, String> {
    let demo = match std::env::var("PAYLINKS_DEMO_MERCHANT") {
        Ok(spec) => parse_demo_spec(&spec)?,
        Err(_) => load_or_generate_demo(&data_dir().join("demo-merchant.json"))?,
    };
    if !Merchant::is_valid_id(&demo.id) {
        return Err(format!("the demo merchant id {:?} {}", demo.id, Merchant::ID_RULE));
    }
    let new = NewMerchant::with_keys(
        &demo.id,
        DEMO_MERCHANT_NAME,
        demo.vault_key.clone(),
        demo.merchant_key.clone(),
        chrono::Utc::now(),
    );
    match store.create_merchant(&new.merchant).await {
        Ok(()) => Ok(demo),
        Err(StoreError::Conflict(_)) => {
            let existing =
                store.find_merchant_by_key(&hash_key(&demo.merchant_key)).await.map_err(|e| e.to_string())?;
            match existing {
                Some(m) if m.id == demo.id && m.vault_key_hash == new.merchant.vault_key_hash => Ok(demo),
                _ => Err(format!("merchant {} exists with other keys; choose another id", demo.id)),
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

fn parse_demo_spec(spec: &str) -> Result<DemoMerchant, String> {
    match spec.split(':').collect::<Vec<_>>()[..] {
        [id, vault, merchant] if !id.is_empty() && !vault.is_empty() && !merchant.is_empty() => Ok(DemoMerchant {
            id: id.to_owned(),
            vault_key: vault.to_owned(),
            merchant_key: merchant.to_owned(),
            kept_in: None,
        }),
        _ => Err("PAYLINKS_DEMO_MERCHANT must be \"id:vaultKey:merchantKey\"".to_owned()),
    }
}

fn load_or_generate_demo(path: &Path) -> Result<DemoMerchant, String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let demo: DemoMerchant =
            serde_json::from_str(&text).map_err(|e| format!("{} is not valid: {e}", path.display()))?;
        return Ok(DemoMerchant { kept_in: Some(path.to_owned()), ..demo });
    }
    let generated = NewMerchant::generate("demo_merchant", DEMO_MERCHANT_NAME, chrono::Utc::now());
    let demo = DemoMerchant {
        id: generated.merchant.id,
        vault_key: generated.vault_key,
        merchant_key: generated.merchant_key,
        kept_in: Some(path.to_owned()),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&demo).map_err(|e| e.to_string())?;
    // The demo merchant's keys in plain text: created readable by this user only.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(demo)
}
