//! `paylinks`: run the service locally, provision merchants, create the DynamoDB table.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod serve;
mod setup;

#[derive(Parser)]
#[command(name = "paylinks", version, about = "Payment links: run locally, manage merchants, create the table")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the whole service over HTTP (embedded store unless PAYLINKS_STORE=dynamodb).
    Serve,
    /// Manage merchants.
    Merchant {
        #[command(subcommand)]
        command: MerchantCommand,
    },
    /// Manage the DynamoDB table.
    Table {
        #[command(subcommand)]
        command: TableCommand,
    },
}

#[derive(Subcommand)]
enum MerchantCommand {
    /// Create a merchant and print its two API keys (shown once; only hashes are stored).
    Create {
        /// The merchant's id, as create requests send it in `merchantId`: 1 to 64 letters,
        /// digits, '_' or '-'.
        #[arg(long)]
        id: String,
        /// The merchant's name, for your own records (each link carries its `merchantName`).
        #[arg(long)]
        name: String,
        /// On a Stripe Connect platform: the merchant's connected account (`acct_…`), sent as
        /// `Stripe-Account` with its payments.
        #[arg(long, value_name = "ACCOUNT")]
        stripe_account: Option<String>,
    },
}

#[derive(Subcommand)]
enum TableCommand {
    /// Create the table (with TTL and the listing index) on the configured endpoint.
    Create {
        #[arg(long, env = "TABLE_NAME", default_value = "paylinks")]
        name: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    paylinks_core::logging::init();
    let result = match Cli::parse().command {
        Command::Serve => serve::run().await,
        Command::Merchant { command: MerchantCommand::Create { id, name, stripe_account } } => {
            setup::create_merchant(&id, &name, stripe_account).await
        }
        Command::Table { command: TableCommand::Create { name } } => setup::create_table(&name).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("paylinks: {message}");
            ExitCode::FAILURE
        }
    }
}
