//! Secrets (Stripe's secret key and webhook signing secret), read once per process and kept
//! in `SecretString`, whose `Debug` never shows them; never logged, never in an error.
//!
//! `NAME` is read from the environment (`paylinks serve`, tests). On Lambda, template.yaml never
//! puts a secret in the environment: it sets `NAME_PARAMETER` to the name of an SSM Parameter
//! Store SecureString, read and decrypted here at init.

use secrecy::SecretString;

/// The secret `name`: from `name` in the environment, else from the SSM parameter that
/// `{name}_PARAMETER` names.
pub async fn secret(name: &str) -> Result<SecretString, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
    if let Some(value) = env(name) {
        return Ok(SecretString::from(value.trim().to_owned()));
    }
    match env(&format!("{name}_PARAMETER")) {
        Some(parameter) => from_parameter_store(&parameter).await,
        None => Err(format!("{name} is not set (nor {name}_PARAMETER, the SSM parameter holding it)")),
    }
}

#[cfg(feature = "ssm")]
async fn from_parameter_store(parameter: &str) -> Result<SecretString, String> {
    read_parameter(&aws_sdk_ssm::Client::new(&crate::aws::lambda_config("SSM").await?), parameter).await
}

/// The SecureString `parameter`, decrypted.
#[cfg(feature = "ssm")]
pub async fn read_parameter(ssm: &aws_sdk_ssm::Client, parameter: &str) -> Result<SecretString, String> {
    let answer = ssm
        .get_parameter()
        .name(parameter)
        .with_decryption(true)
        .send()
        .await
        // The error names the parameter and the failure (access denied, not found), never a value.
        .map_err(|e| {
            format!("cannot read SSM parameter {parameter}: {}", aws_sdk_ssm::error::DisplayErrorContext(e))
        })?;
    let value = answer.parameter.and_then(|p| p.value).filter(|v| !v.trim().is_empty());
    value.map(|v| SecretString::from(v.trim().to_owned())).ok_or_else(|| format!("SSM parameter {parameter} is empty"))
}

#[cfg(not(feature = "ssm"))]
async fn from_parameter_store(parameter: &str) -> Result<SecretString, String> {
    Err(format!("this binary reads secrets from the environment only, not from SSM ({parameter})"))
}

#[cfg(all(test, feature = "ssm"))]
mod tests {
    use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_ssm::types::ParameterType;
    use secrecy::ExposeSecret;

    use super::read_parameter;

    /// moto_server (the suite's DynamoDB) serves SSM Parameter Store too.
    async fn ssm() -> aws_sdk_ssm::Client {
        let config = aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(crate::aws::https_client(crate::aws::Roots::AmazonTrustServices))
            .endpoint_url(crate::test_support::moto_endpoint().await)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("x", "x", None, None, "paylinks-test"))
            .build();
        aws_sdk_ssm::Client::from_conf(config)
    }

    #[tokio::test]
    async fn a_securestring_is_read_decrypted_and_a_missing_one_is_named_without_a_value() {
        let ssm = ssm().await;
        let name = format!("/paylinks-test/{}/secret-key", ulid::Ulid::new());
        let put = ssm.put_parameter().name(&name).value("sk_test_from_ssm").r#type(ParameterType::SecureString);
        put.send().await.expect("put the parameter");
        let secret = read_parameter(&ssm, &name).await.expect("read");
        assert_eq!(secret.expose_secret(), "sk_test_from_ssm");
        let missing = read_parameter(&ssm, "/paylinks-test/none").await.expect_err("missing");
        assert!(missing.contains("/paylinks-test/none") && !missing.contains("sk_test"), "{missing}");
    }
}
