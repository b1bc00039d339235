//! The AWS SDK's configuration, one for every client (DynamoDB, SSM): the standard environment
//! chain (region, credentials — on Lambda, the function's role), over an HTTPS client on rustls
//! with ring. The SDK's default HTTPS client would bring aws-lc, a second TLS crypto library
//! beside the ring that reqwest (Stripe, webhooks) uses: measured in BENCHMARKS.md §5.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

/// The HTTPS (and plain HTTP, for a local endpoint) client of every SDK client.
pub fn https_client() -> SharedHttpClient {
    Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

/// The SDK configuration from the environment, on [`https_client`].
pub async fn config_from_env() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client()).load().await
}
