//! A moto_server (DynamoDB over loopback) for the test process, SDK clients for it, and an
//! interceptor counting the requests a client sends.
//!
//! The moto_server is either the one named by `PAYLINKS_TEST_DYNAMODB_ENDPOINT` (the test script
//! starts one with `scripts/moto.sh`) or one started here, once per test process, which dies with
//! the process.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use tokio::sync::OnceCell;

use super::free_port;

/// Names the endpoint of a running moto_server (or DynamoDB Local) to use instead of starting one.
pub const ENDPOINT_ENV: &str = "PAYLINKS_TEST_DYNAMODB_ENDPOINT";

const NOT_INSTALLED: &str = "moto_server is not installed: run the test script, which installs moto[server] 5.2.x \
     with pip (scripts/moto.sh), or set PAYLINKS_TEST_DYNAMODB_ENDPOINT to a running moto_server";

/// Runs moto_server with its requests serialized, as real DynamoDB serializes writes to an item
/// (plain moto_server lets racing conditional writes both win); see the script.
const MOTO_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/moto.sh");

/// How long a freshly started moto_server may take to listen (it usually needs 0.5-2 s).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts moto_server and stays its parent; kills it as soon as our end of its stdin closes,
/// which the OS does when the test process exits however it exits (even SIGKILL). Exits with
/// moto_server's status if the server dies on its own (e.g. the port was taken), 127 if missing.
const WATCHDOG: &str = r#"[ -f "$1" ] || { echo "no such script: $1" >&2; exit 2; }
exec 3<&0 </dev/null
bash "$1" --foreground "$2" &
pid=$!
(read -r _ <&3; kill "$pid" 2>/dev/null) &
wait "$pid""#;

struct Moto {
    endpoint: String,
    /// The watchdog shell; held (never dropped: statics are not) so its stdin stays open.
    _watchdog: Option<Child>,
}

static MOTO: OnceCell<Moto> = OnceCell::const_new();

/// The endpoint of the moto_server for this test process, started on first use.
///
/// Panics when moto_server is not installed: DynamoDB tests are never silently skipped.
pub async fn moto_endpoint() -> String {
    MOTO.get_or_init(|| async {
        match std::env::var(ENDPOINT_ENV) {
            Ok(endpoint) if !endpoint.trim().is_empty() => {
                Moto { endpoint: endpoint.trim().trim_end_matches('/').to_owned(), _watchdog: None }
            }
            _ => start_moto().await,
        }
    })
    .await
    .endpoint
    .clone()
}

async fn start_moto() -> Moto {
    let mut last_failure = String::new();
    // A free port can be taken between our probe and moto's bind: try a few.
    for _ in 0..3 {
        let port = free_port();
        let log_path = std::env::temp_dir().join(format!("paylinks-moto-{}-{port}.log", std::process::id()));
        let log = File::create(&log_path).unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(MOTO_SCRIPT)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("log file handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run sh to start moto_server: {e}"));
        match wait_until_listening(&mut watchdog, port, &log_path).await {
            Ok(()) => {
                // moto logs every request; nothing reads it once the server is up.
                let _ = std::fs::remove_file(&log_path);
                return Moto { endpoint: format!("http://127.0.0.1:{port}"), _watchdog: Some(watchdog) };
            }
            Err(failure) => {
                let _ = watchdog.kill();
                let _ = watchdog.wait();
                last_failure = failure;
            }
        }
    }
    panic!("moto_server did not start: {last_failure}");
}

/// Polls until moto_server accepts connections on `port`.
async fn wait_until_listening(watchdog: &mut Child, port: u16, log_path: &Path) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Some(status) = watchdog.try_wait().map_err(|e| e.to_string())? {
            if status.code() == Some(127) {
                panic!("{NOT_INSTALLED}");
            }
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            return Err(format!("moto_server exited ({status}) on port {port}; log {}:\n{log}", log_path.display()));
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("moto_server not listening on port {port} after {STARTUP_TIMEOUT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An SDK client for `endpoint` with a fixed region and dummy credentials, independent of the
/// process environment (no real AWS account can ever be reached through it by accident).
pub fn dynamo_client(endpoint: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(crate::aws::https_client(crate::aws::Roots::AmazonTrustServices))
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("x", "x", None, None, "paylinks-test"))
        .timeout_config(TimeoutConfig::builder().operation_timeout(Duration::from_secs(30)).build())
        .build();
    Client::from_conf(config)
}

/// An SSM client for `endpoint` (moto serves Parameter Store too), set up like [`dynamo_client`].
#[cfg(feature = "ssm")]
pub fn ssm_client(endpoint: &str) -> aws_sdk_ssm::Client {
    let config = aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(crate::aws::https_client(crate::aws::Roots::AmazonTrustServices))
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("x", "x", None, None, "paylinks-test"))
        .build();
    aws_sdk_ssm::Client::from_conf(config)
}

/// Puts `value` in Parameter Store at `endpoint` as the SecureString `name`, as a deployment keeps
/// the Stripe secrets.
#[cfg(feature = "ssm")]
pub async fn put_secure_string(endpoint: &str, name: &str, value: &str) {
    let put = ssm_client(endpoint).put_parameter().name(name).value(value);
    put.r#type(aws_sdk_ssm::types::ParameterType::SecureString).send().await.expect("put the SSM parameter");
}

/// A client for the test process's moto_server.
///
/// Make one per tokio runtime (each `#[tokio::test]` has its own): the SDK's connection pool
/// belongs to the runtime that first used it.
pub async fn moto_client() -> Client {
    dynamo_client(&moto_endpoint().await)
}

/// Counts DynamoDB requests by operation (the `x-amz-target` header), as transmitted: a
/// retried request counts once per transmission. Also notes the IAM actions the requests
/// need, which differ for transactions: IAM has no `TransactWriteItems` action, each item
/// needs the action of its kind (`Put` → `PutItem`, `ConditionCheck` → `ConditionCheckItem`…).
#[derive(Debug, Default, Clone)]
pub struct RequestCounter {
    requests: Arc<Mutex<BTreeMap<String, u32>>>,
    actions: Arc<Mutex<BTreeSet<String>>>,
}

impl RequestCounter {
    /// The counts since the last take, and resets them.
    pub fn take(&self) -> BTreeMap<String, u32> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }

    /// The IAM actions the requests since the last call need (`dynamodb:GetItem on table keyed
    /// LINK#`, `dynamodb:Query on index/gsi1`), and resets them.
    pub fn take_actions(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.actions.lock().unwrap())
    }
}

/// The IAM actions a request needs, each with the resource it is needed on: `table keyed
/// <prefix>` for the items of the table it touches (the prefix of each item's partition key, up
/// to its first `#`: what a `dynamodb:LeadingKeys` condition matches), or `index/<name>` for a
/// query of an index. A transaction needs the actions of its items, a batch read one per key
/// (a request this does not know reads `<no pk>`, which no policy grants).
fn iam_actions(operation: &str, body: Option<&[u8]>) -> Vec<String> {
    let body: serde_json::Value = body.and_then(|body| serde_json::from_slice(body).ok()).unwrap_or_default();
    if let Some(index) = body["IndexName"].as_str() {
        return vec![format!("dynamodb:{operation} on index/{index}")];
    }
    let on_item =
        |action: &str, item: &serde_json::Value| format!("dynamodb:{action} on table keyed {}", key_prefix(item));
    match operation {
        "TransactWriteItems" | "TransactGetItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_object())
            .flat_map(|item| item.iter())
            .map(|(kind, part)| {
                let action = match kind.as_str() {
                    "ConditionCheck" => "ConditionCheckItem".to_owned(),
                    other => format!("{other}Item"),
                };
                on_item(&action, part.get("Key").unwrap_or(&part["Item"]))
            })
            .collect(),
        "BatchGetItem" => body["RequestItems"]
            .as_object()
            .into_iter()
            .flat_map(|tables| tables.values())
            .flat_map(|table| table["Keys"].as_array().cloned().unwrap_or_default())
            .map(|key| on_item(operation, &key))
            .collect(),
        _ => vec![on_item(operation, body.get("Key").unwrap_or(&body["Item"]))],
    }
}

/// What a `dynamodb:LeadingKeys` pattern sees of an item's key: its partition key up to and
/// including the first `#` (`LINK#`), or the whole key when it has none.
fn key_prefix(key: &serde_json::Value) -> String {
    let pk = key["pk"]["S"].as_str().unwrap_or("<no pk>");
    match pk.find('#') {
        Some(end) => pk[..=end].to_owned(),
        None => pk.to_owned(),
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let target = request.headers().get("x-amz-target").unwrap_or("unknown");
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        self.actions.lock().unwrap().extend(iam_actions(&operation, request.body().bytes()));
        *self.requests.lock().unwrap().entry(operation).or_default() += 1;
        Ok(())
    }
}

/// A DynamoDB client for `endpoint` whose requests `counter` counts.
pub fn counted_client(endpoint: &str, counter: &RequestCounter) -> aws_sdk_dynamodb::Client {
    let base = dynamo_client(endpoint);
    let config = base.config().to_builder().interceptor(counter.clone()).build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
