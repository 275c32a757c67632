//! `civictext tokens create | list | revoke | log`: API tokens for agencies.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use crate::auth::{NewToken, ScopeSet, TokenError};
use crate::config::{Overrides, Settings};
use crate::store::Store;

/// Manage the agencies' API tokens.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a token. It is printed once, alone on the last line; only its hash is stored.
    Create {
        /// Who the token is for, e.g. "Planning dept".
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: results, results:pii (adds phone numbers), requests,
        /// requests:write (change a request's status), broadcasts.
        #[arg(long, required = true)]
        scope: String,
        #[command(flatten)]
        settings: Overrides,
    },
    /// List every token: id, name, scopes, first characters, created, last used, revoked.
    List {
        #[command(flatten)]
        settings: Overrides,
    },
    /// Revoke a token by its id (from `tokens list`); it stops working at once.
    Revoke {
        id: i64,
        #[command(flatten)]
        settings: Overrides,
    },
    /// Show the audit log of API use, newest first.
    Log {
        /// Only this token's uses.
        #[arg(long)]
        token: Option<i64>,
        /// How many entries.
        #[arg(long, default_value = "50")]
        limit: i64,
        #[command(flatten)]
        settings: Overrides,
    },
}

pub(super) fn with_store<T>(
    flags: &Overrides,
    work: impl AsyncFnOnce(Store) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let settings = Settings::load(flags)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let store = Store::connect(&settings.database_url)
            .await
            .context("cannot open the database")?;
        let result = work(store.clone()).await;
        store.close().await;
        result
    })
}

/// Runs one `tokens` subcommand.
pub fn run(command: TokensCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokensCommand::Create {
            name,
            scope,
            settings,
        } => {
            let name = name.trim().to_string();
            if name.is_empty() {
                return Err(TokenError::NoName.into());
            }
            let scopes = ScopeSet::parse(&scope)?;
            let token = NewToken::generate();
            let id = with_store(&settings, async |store| {
                Ok(store
                    .create_token(
                        &name,
                        &scopes.to_stored(),
                        &token.hash,
                        &token.hint,
                        jiff::Timestamp::now(),
                    )
                    .await?)
            })?;
            println!("Created token {id} for {name:?} with scopes {scopes}.");
            println!("Copy it now: it is not stored and cannot be shown again.");
            println!("{}", token.secret);
            Ok(ExitCode::SUCCESS)
        }
        TokensCommand::List { settings } => {
            let tokens = with_store(&settings, async |store| Ok(store.list_tokens().await?))?;
            if tokens.is_empty() {
                println!(
                    "No tokens. Create one with: civictext tokens create --name NAME --scope results"
                );
            }
            for t in tokens {
                let state = match t.revoked_at {
                    Some(at) => format!("revoked {at}"),
                    None => "active".into(),
                };
                let used = t
                    .last_used_at
                    .map_or("never used".to_string(), |at| format!("last used {at}"));
                println!(
                    "{}\t{}\t{}\t{}…\tcreated {}\t{used}\t{state}",
                    t.id,
                    t.name,
                    t.scopes.replace(' ', ","),
                    t.hint,
                    t.created_at
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        TokensCommand::Revoke { id, settings } => {
            let revoked = with_store(&settings, async |store| {
                Ok(store.revoke_token(id, jiff::Timestamp::now()).await?)
            })?;
            if revoked {
                println!("Token {id} revoked.");
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("No active token {id} (see `civictext tokens list`).");
                Ok(ExitCode::from(1))
            }
        }
        TokensCommand::Log {
            token,
            limit,
            settings,
        } => {
            let entries = with_store(&settings, async |store| {
                Ok(store.audit_log(token, limit).await?)
            })?;
            for e in entries {
                let who = e
                    .token_id
                    .map_or("no valid token".to_string(), |id| format!("token {id}"));
                println!("{}\t{who}\t{} {}\t{}", e.at, e.method, e.route, e.status);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
