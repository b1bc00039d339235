//! The AWS SDK's configuration, one for every client (DynamoDB, SSM): on Lambda the region and
//! the function role's credentials that Lambda puts in the environment, for the CLI the standard
//! chains (profiles, SSO…); over an HTTPS client on rustls with ring. The SDK's default HTTPS
//! client would bring aws-lc, a second TLS crypto library beside the ring that reqwest (Stripe,
//! webhooks) uses: measured in BENCHMARKS.md §5.
//!
//! The client trusts Amazon Trust Services' five roots instead of the system's bundle: AWS moved
//! its service endpoints (DynamoDB among the first) to certificates of its own CA from 2018 on
//! (https://repost.aws/knowledge-center/s3-cloudfront-certificate-migration). Loading and parsing
//! the system's ~140 certificates was nearly all of a client's construction, paid at every cold
//! start (BENCHMARKS.md §8), and no other CA can vouch for an AWS endpoint any more. The cost: a
//! pinned set, which `PAYLINKS_AWS_ROOTS=system` lifts should AWS ever move to another root (or
//! for a partition such as China's, whose endpoints AWS does not run itself).

use aws_config::environment::{EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider};
use aws_config::meta::region::ProvideRegion;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{SharedCredentialsProvider, SharedHttpClient};
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};

/// Amazon Root CA 1–4 and Starfield Services Root Certificate Authority – G2, as PEM.
const AMAZON_TRUST_SERVICES: &[u8] = include_bytes!("../certs/amazon-trust-services.pem");

/// The setting that chooses the roots: `amazon` (the default) or `system`.
pub const ROOTS_SETTING: &str = "PAYLINKS_AWS_ROOTS";

/// The root certificates the SDK's HTTPS client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// Amazon Trust Services' roots only: what AWS's own endpoints need.
    AmazonTrustServices,
    /// The system's bundle: for an endpoint whose certificate another CA signed (a proxy that
    /// inspects TLS, an emulator with its own CA).
    System,
}

impl Roots {
    /// [`ROOTS_SETTING`] from the environment.
    pub fn from_env() -> Result<Roots, String> {
        Roots::from_setting(std::env::var(ROOTS_SETTING).ok().as_deref())
    }

    /// The roots a value of [`ROOTS_SETTING`] names; unset or empty is `amazon`.
    fn from_setting(value: Option<&str>) -> Result<Roots, String> {
        match value.unwrap_or_default().trim() {
            "" | "amazon" => Ok(Roots::AmazonTrustServices),
            "system" => Ok(Roots::System),
            other => Err(format!("{ROOTS_SETTING} must be \"amazon\" or \"system\", not {other:?}")),
        }
    }
}

/// The HTTPS (and plain HTTP, for a local endpoint) client of every SDK client, trusting `roots`.
pub fn https_client(roots: Roots) -> SharedHttpClient {
    let trust = match roots {
        Roots::AmazonTrustServices => TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES),
        Roots::System => TrustStore::default(),
    };
    // Building a context from a trust store only moves it; it has no way to fail.
    let tls = TlsContext::builder().with_trust_store(trust).build().expect("a TLS context from a trust store");
    Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).tls_context(tls).build_https()
}

/// The SDK configuration from aws-config's standard chains (environment, profile files, SSO,
/// web identity, instance metadata…), on [`https_client`] with the roots the environment names:
/// for the CLI, run where any of those may hold the credentials.
pub async fn config_from_env() -> Result<SdkConfig, String> {
    let http = https_client(Roots::from_env()?);
    Ok(aws_config::defaults(BehaviorVersion::latest()).http_client(http).load().await)
}

/// A Lambda function's SDK configuration for the service whose endpoint setting is
/// `AWS_ENDPOINT_URL_{service}` (`DYNAMODB`, `SSM`): the region and the role's credentials that
/// Lambda sets in every function's environment, read by aws-config's environment providers, and
/// an endpoint only when one is set (a local emulator). Not the standard chains of
/// [`config_from_env`]: none of their other sources (profile files, SSO, web identity through STS,
/// instance metadata) exists on Lambda, and linking them cost every function ~0.75 MB
/// (BENCHMARKS.md §8).
pub async fn lambda_config(service: &str) -> Result<SdkConfig, String> {
    let region = EnvironmentVariableRegionProvider::new()
        .region()
        .await
        .ok_or_else(|| "AWS_REGION is not set (Lambda sets it in every function)".to_owned())?;
    let endpoint = std::env::var(format!("AWS_ENDPOINT_URL_{service}")).or_else(|_| std::env::var("AWS_ENDPOINT_URL"));
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new()))
        .http_client(https_client(Roots::from_env()?));
    if let Ok(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    Ok(config.build())
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use sha2::{Digest, Sha256};

    use super::*;

    /// The SHA-256 fingerprints Amazon Trust Services publishes for its roots, in the file's order.
    const FINGERPRINTS: [&str; 5] = [
        "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e", // Amazon Root CA 1
        "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4", // Amazon Root CA 2
        "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4", // Amazon Root CA 3
        "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092", // Amazon Root CA 4
        "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5", // Starfield Services G2
    ];

    #[test]
    fn the_trusted_roots_are_exactly_amazon_trust_services_five() {
        // The SDK parses this file when it builds a connection, and panics on a bad certificate.
        let certificates = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES).collect::<Result<Vec<_>, _>>();
        let fingerprints: Vec<String> = certificates
            .expect("every certificate parses")
            .iter()
            .map(|der| hex::encode(Sha256::digest(der.as_ref())))
            .collect();
        assert_eq!(fingerprints, FINGERPRINTS);
    }

    #[test]
    fn the_roots_setting_takes_amazon_or_system_and_names_itself_otherwise() {
        for unset in [None, Some(""), Some(" amazon ")] {
            assert_eq!(Roots::from_setting(unset), Ok(Roots::AmazonTrustServices), "{unset:?}");
        }
        assert_eq!(Roots::from_setting(Some("system")), Ok(Roots::System));
        let error = Roots::from_setting(Some("mozilla")).expect_err("an unknown value");
        assert!(error.contains(ROOTS_SETTING) && error.contains("mozilla"), "{error}");
    }
}
