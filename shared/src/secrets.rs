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
    // One client per process, made on the first read: a function reading two secrets at init
    // (stripe-webhook) reuses its connection, one TLS handshake to SSM instead of two. (Its
    // connections belong to the runtime of that first read: a process has one.)
    static SSM: tokio::sync::OnceCell<aws_sdk_ssm::Client> = tokio::sync::OnceCell::const_new();
    let ssm = SSM
        .get_or_try_init(|| async {
            Ok::<_, String>(aws_sdk_ssm::Client::new(&crate::aws::lambda_config("SSM").await?))
        })
        .await?;
    read_parameter(ssm, parameter).await
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
    use secrecy::ExposeSecret;

    use super::read_parameter;
    use crate::test_support::{moto_endpoint, put_secure_string, ssm_client};

    #[tokio::test]
    async fn a_securestring_is_read_decrypted_and_a_missing_one_is_named_without_a_value() {
        // moto_server (the suite's DynamoDB) serves SSM Parameter Store too.
        let endpoint = moto_endpoint().await;
        let ssm = ssm_client(&endpoint);
        let name = format!("/paylinks-test/{}/secret-key", ulid::Ulid::new());
        put_secure_string(&endpoint, &name, "sk_test_from_ssm").await;
        let secret = read_parameter(&ssm, &name).await.expect("read");
        assert_eq!(secret.expose_secret(), "sk_test_from_ssm");
        let missing = read_parameter(&ssm, "/paylinks-test/none").await.expect_err("missing");
        assert!(missing.contains("/paylinks-test/none") && !missing.contains("sk_test"), "{missing}");
    }
}
