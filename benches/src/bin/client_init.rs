//! Where a DynamoDB client's construction time goes, from a fresh process (what a Lambda cold
//! start pays before its first answer), stage by stage:
//!
//!   client_init [RUNS]      # RUNS fresh processes per way of building (default 15): median per stage
//!
//! Four ways of building, each in its own processes:
//! - `aws-config`: what the functions do (`paylinks_core::aws::config_from_env`): the HTTPS
//!   client trusting Amazon Trust Services' five roots, then aws-config's environment chains
//!   (region, credentials, and the profile files, retry, timeout and endpoint settings it looks
//!   up), then the client;
//! - the same trusting the system's root certificates (`PAYLINKS_AWS_ROOTS=system`; the
//!   functions' way before), to see what loading them costs;
//! - `env only`: the client's config built by hand from what a Lambda's environment holds
//!   (`AWS_REGION`, the role's keys in `AWS_ACCESS_KEY_ID`…, `AWS_ENDPOINT_URL_DYNAMODB` when
//!   local), no aws-config at all, Amazon's roots;
//! - the same with no root certificates trusted (it reaches plain-HTTP moto only): the floor.
//!
//! Then the first GetItem (credentials resolved, endpoint resolved, connection opened) and a
//! second one (warm). Needs `TABLE_NAME`, `AWS_REGION`, credentials and
//! `AWS_ENDPOINT_URL_DYNAMODB` in the environment, as `scripts/bench.sh` sets them for the cold
//! start step.

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::types::AttributeValue;

const STAGES: [&str; 4] = ["https client", "config", "client", "first GetItem"];

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--once") => once(args.get(1).map(String::as_str).unwrap_or_default()).await,
        runs => report(runs.map_or(15, |runs| runs.parse().expect("RUNS is a number"))),
    }
}

/// One cold construction in this process; prints each stage's microseconds, then the warm
/// GetItem's.
async fn once(way: &str) {
    let started = Instant::now();
    let mut marks = Vec::new();
    let mut mark = || marks.push(started.elapsed());
    use paylinks_core::aws::{Roots, https_client};
    let env_only = !way.starts_with("chain");
    let http = match way {
        "no-roots" => https_client_trusting_nothing(),
        "chain-system" => https_client(Roots::System),
        _ => https_client(Roots::AmazonTrustServices),
    };
    mark();
    let client = if env_only {
        let mut config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(std::env::var("AWS_REGION").expect("AWS_REGION")))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                std::env::var("AWS_ACCESS_KEY_ID").expect("AWS_ACCESS_KEY_ID"),
                std::env::var("AWS_SECRET_ACCESS_KEY").expect("AWS_SECRET_ACCESS_KEY"),
                std::env::var("AWS_SESSION_TOKEN").ok(),
                None,
                "environment",
            ))
            .http_client(http);
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
            config = config.endpoint_url(endpoint);
        }
        mark();
        Client::from_conf(config.build())
    } else {
        let config = aws_config::defaults(BehaviorVersion::latest()).http_client(http).load().await;
        mark();
        Client::new(&config)
    };
    mark();
    let table = std::env::var("TABLE_NAME").expect("TABLE_NAME");
    let get = || client.get_item().table_name(&table).key("pk", AttributeValue::S("LINK#none".into())).send();
    get().await.expect("first GetItem");
    mark();
    let warm = Instant::now();
    get().await.expect("second GetItem");
    let warm = warm.elapsed();
    let mut previous = Duration::ZERO;
    let stages: Vec<String> = marks
        .iter()
        .map(|at| {
            let stage = *at - previous;
            previous = *at;
            stage.as_micros().to_string()
        })
        .collect();
    println!("{} {}", stages.join(" "), warm.as_micros());
}

/// Runs `once` in `runs` fresh processes per way and prints the median of each stage.
fn report(runs: usize) {
    let me = std::env::current_exe().expect("this binary");
    println!("| way | runs | {} | sum | warm GetItem |", STAGES.join(" | "));
    println!("|---|---|{}---|---|", "---|".repeat(STAGES.len()));
    let ways = [
        ("aws-config, Amazon's roots (the functions' way)", "chain"),
        ("aws-config, the system's roots", "chain-system"),
        ("env only, no aws-config, Amazon's roots", "env"),
        ("env only, no root certificates loaded", "no-roots"),
    ];
    for (way, arg) in ways {
        let mut samples: Vec<Vec<u64>> = Vec::new();
        for _ in 0..runs {
            let output = Command::new(&me).args(["--once", arg]).output().expect("run once");
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            let line = String::from_utf8(output.stdout).expect("UTF-8");
            samples.push(line.split_whitespace().map(|n| n.parse().expect("microseconds")).collect());
        }
        let median = |column: usize| {
            let mut values: Vec<u64> = samples.iter().map(|sample| sample[column]).collect();
            values.sort_unstable();
            values[values.len() / 2]
        };
        let ms = |micros: u64| format!("{:.2} ms", micros as f64 / 1000.0);
        let stages: Vec<String> = (0..STAGES.len()).map(|column| ms(median(column))).collect();
        let sum: u64 = (0..STAGES.len()).map(median).sum();
        println!("| {way} | {runs} | {} | {} | {} |", stages.join(" | "), ms(sum), ms(median(STAGES.len())));
    }
}

/// The functions' HTTPS client with an empty trust store: it can reach a plain-HTTP endpoint
/// (moto) only, and shows what loading the system's root certificates costs.
fn https_client_trusting_nothing() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let tls = TlsContext::builder().with_trust_store(TrustStore::empty()).build().expect("a TLS context");
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(tls)
        .build_https()
}
