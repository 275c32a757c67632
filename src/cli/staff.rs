//! `civictext staff add | list | link`: staff accounts of the console.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;

use super::tokens::with_store;
use crate::auth::staff::{Role, StaffError, normalize_email};
use crate::config::{Overrides, Settings};
use crate::console::admin::issue_password_link;
use crate::store::{NewStaffAudit, Store};

/// Manage staff accounts of the console at /console.
#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Add an account. Prints a one-time link to set its password, alone on the last line.
    Add {
        /// The person's email; they sign in with it.
        email: String,
        /// admin (everything), editor (flows, results), analyst (results without phone
        /// numbers) or caseworker (service requests).
        #[arg(long)]
        role: String,
        #[command(flatten)]
        settings: Overrides,
    },
    /// A new one-time link to set an account's password (a forgotten password), alone on the
    /// last line.
    Link {
        email: String,
        #[command(flatten)]
        settings: Overrides,
    },
    /// List every account: email, role, state.
    List {
        #[command(flatten)]
        settings: Overrides,
    },
}

/// Where the console is reached: the public URL, else the address `serve` listens on.
fn base_url(flags: &Overrides) -> anyhow::Result<String> {
    let settings = Settings::load(flags)?;
    Ok(match settings.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!("http://{}", settings.bind),
    })
}

async fn record(store: &Store, action: &str, detail: &str) -> anyhow::Result<()> {
    store
        .record_staff_audit(&NewStaffAudit {
            staff_id: None,
            actor: "cli",
            action,
            detail,
            at: jiff::Timestamp::now(),
        })
        .await
        .context("cannot write the audit log")
}

/// Runs one `staff` subcommand.
pub fn run(command: StaffCommand) -> anyhow::Result<ExitCode> {
    match command {
        StaffCommand::Add {
            email,
            role,
            settings,
        } => {
            let role = Role::parse(role.trim()).ok_or(StaffError::UnknownRole(role))?;
            let email = normalize_email(&email)?;
            let base = base_url(&settings)?;
            let path = with_store(&settings, async |store| {
                let Some(id) = store
                    .create_staff(&email, role.as_str(), jiff::Timestamp::now())
                    .await?
                else {
                    bail!(
                        "there is already an account for {email}; for a new password link run: \
                         civictext staff link {email}"
                    );
                };
                let path = issue_password_link(&store, id).await?;
                record(&store, "staff_add", &format!("added {email} as {role}")).await?;
                Ok(path)
            })?;
            println!("Added {email} as {role}.");
            println!("Send them this link to set their password; it works once, for 72 hours:");
            println!("{base}{path}");
            Ok(ExitCode::SUCCESS)
        }
        StaffCommand::Link { email, settings } => {
            let email = normalize_email(&email)?;
            let base = base_url(&settings)?;
            let path = with_store(&settings, async |store| {
                let Some(account) = store.staff_by_email(&email).await? else {
                    bail!("there is no account for {email} (see `civictext staff list`)");
                };
                let path = issue_password_link(&store, account.id).await?;
                record(
                    &store,
                    "staff_link",
                    &format!("made a new password link for {email}"),
                )
                .await?;
                Ok(path)
            })?;
            println!("A new link for {email}; it works once, for 72 hours:");
            println!("{base}{path}");
            Ok(ExitCode::SUCCESS)
        }
        StaffCommand::List { settings } => {
            let staff = with_store(&settings, async |store| Ok(store.list_staff().await?))?;
            if staff.is_empty() {
                println!("No accounts. Add one with: civictext staff add EMAIL --role admin");
            }
            for s in staff {
                let state = match (&s.disabled_at, &s.password_hash) {
                    (Some(at), _) => format!("disabled {at}"),
                    (None, None) => "waiting for a password".into(),
                    (None, Some(_)) => "active".into(),
                };
                println!("{}\t{}\t{state}", s.email, s.role);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
