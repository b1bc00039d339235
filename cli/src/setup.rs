//! Store selection and provisioning: which store to use, merchants, the DynamoDB table.

use std::path::PathBuf;
use std::sync::Arc;

use paylinks_core::auth::NewMerchant;
use paylinks_core::model::Merchant;
use paylinks_core::store::dynamo::{self, DynamoStore};
use paylinks_core::store::embedded::{self, EmbeddedStore};
use paylinks_core::store::{Store, StoreError};

/// The data directory of the embedded store (`PAYLINKS_DATA`, default `./data`).
pub fn data_dir() -> PathBuf {
    std::env::var_os("PAYLINKS_DATA").map_or_else(|| PathBuf::from("data"), PathBuf::from)
}

/// The store chosen by `PAYLINKS_STORE` (`embedded`, the default, or `dynamodb`).
pub async fn open_store() -> Result<Arc<dyn Store>, String> {
    Ok(match open_chosen_store().await? {
        ChosenStore::Embedded(store) => Arc::new(store),
        ChosenStore::Dynamo(store) => Arc::new(store),
    })
}

/// The store `PAYLINKS_STORE` names, as its own type (`serve` sweeps an embedded one).
pub enum ChosenStore {
    Embedded(EmbeddedStore),
    Dynamo(DynamoStore),
}

pub async fn open_chosen_store() -> Result<ChosenStore, String> {
    match std::env::var("PAYLINKS_STORE").as_deref() {
        Err(_) | Ok("embedded") => {
            let path = data_dir().join("paylinks.redb");
            let store = EmbeddedStore::open_with_cache(&path, cache_bytes()?)
                .map_err(|e| format!("cannot open {}: {e}{}", path.display(), lock_hint(&e)))?;
            Ok(ChosenStore::Embedded(store))
        }
        Ok("dynamodb") => {
            require_aws_region()?;
            Ok(ChosenStore::Dynamo(DynamoStore::from_env().await?))
        }
        Ok(other) => Err(format!("PAYLINKS_STORE must be \"embedded\" or \"dynamodb\", not {other:?}")),
    }
}

/// Without a region in the environment or an AWS config file, the SDK's default chain would
/// ask the EC2 instance metadata service, print pages of warnings and fail anyway: say what to
/// set instead.
fn require_aws_region() -> Result<(), String> {
    let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
    let config_file = std::env::var_os("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".aws/config")));
    if set("AWS_REGION") || set("AWS_DEFAULT_REGION") || config_file.is_some_and(|path| path.exists()) {
        Ok(())
    } else {
        Err("no AWS region: set AWS_REGION (and credentials, e.g. AWS_PROFILE), or run `aws configure`; \
             for a local DynamoDB also set AWS_ENDPOINT_URL_DYNAMODB"
            .to_owned())
    }
}

/// What to do when another process (a running `paylinks serve`) holds the data file's lock.
fn lock_hint(error: &StoreError) -> &'static str {
    if error.to_string().contains("already open") {
        "\nAnother process has this file open, such as a running `paylinks serve`: stop it first, or \
         point PAYLINKS_DATA elsewhere. (`serve` itself can create its merchant: \
         PAYLINKS_DEMO_MERCHANT=id:vaultKey:merchantKey.)"
    } else {
        ""
    }
}

/// The embedded store's page cache (`PAYLINKS_CACHE_MB`, default 64).
fn cache_bytes() -> Result<usize, String> {
    match std::env::var("PAYLINKS_CACHE_MB") {
        Err(_) => Ok(embedded::DEFAULT_CACHE_BYTES),
        Ok(mb) => mb
            .trim()
            .parse::<usize>()
            .ok()
            .and_then(|mb| mb.checked_mul(1 << 20))
            .ok_or_else(|| format!("PAYLINKS_CACHE_MB must be a whole number of mebibytes, not {mb:?}")),
    }
}

pub async fn create_merchant(id: &str, name: &str, stripe_account: Option<String>) -> Result<(), String> {
    if !Merchant::is_valid_id(id) {
        return Err(format!("--id {id:?} {}", Merchant::ID_RULE));
    }
    if let Some(account) = stripe_account.as_deref().filter(|a| !Merchant::is_valid_stripe_account(a)) {
        return Err(format!("--stripe-account {account:?} must be a Stripe account id: acct_ and letters or digits"));
    }
    let store = open_store().await?;
    let mut new = NewMerchant::generate(id, name, chrono::Utc::now());
    new.merchant.stripe_account = stripe_account;
    match store.create_merchant(&new.merchant).await {
        Ok(()) => {
            println!("Merchant {id} created. Keep these keys: they are shown only once.");
            println!("X-API-KEY:       {}", new.vault_key);
            println!("X-OZURA-API-KEY: {}", new.merchant_key);
            Ok(())
        }
        Err(StoreError::Conflict(_)) => Err(format!("merchant {id} exists already")),
        Err(e) => Err(e.to_string()),
    }
}

pub async fn create_table(name: &str) -> Result<(), String> {
    require_aws_region()?;
    let client = dynamo::client_from_env().await?;
    dynamo::create_table(&client, name).await?;
    println!("Table {name} is ready (TTL on ttl, index {}).", dynamo::GSI1);
    Ok(())
}
