//! `civictext requests list | show | update`: service requests from the server's terminal.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use crate::config::{Overrides, Settings};
use crate::gateway::requests::change_status;
use crate::store::results::RequestFilter;
use crate::store::{StatusChange, Store, requests::is_valid_status};

/// Service requests residents filed.
#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// List requests, oldest first: code, status, service, filed, location.
    List {
        /// Only requests in this status, e.g. `open`.
        #[arg(long)]
        status: Option<String>,
        /// Only this service code, e.g. `pothole`.
        #[arg(long)]
        service: Option<String>,
        /// At most this many.
        #[arg(long, default_value = "100")]
        limit: i64,
        #[command(flatten)]
        settings: Overrides,
    },
    /// Show one request with every status change.
    Show {
        /// The tracking code (either case).
        code: String,
        #[command(flatten)]
        settings: Overrides,
    },
    /// Change a request's status. The resident is texted the new status and the note (through
    /// the outbox: the running gateway sends it outside their quiet hours, and not at all if
    /// they have opted out).
    Update {
        /// The tracking code (either case).
        code: String,
        /// The new status: lower-case letters, digits or `_` (open, in_progress, closed ...).
        #[arg(long)]
        status: String,
        /// A note for the resident; without one, the previous note stands.
        #[arg(long)]
        note: Option<String>,
        /// Who is making the change, kept in the history (default: `cli:$USER`).
        #[arg(long)]
        by: Option<String>,
        #[command(flatten)]
        settings: Overrides,
    },
}

fn with_store<T>(
    flags: &Overrides,
    work: impl AsyncFnOnce(&Settings, Store) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let settings = Settings::load(flags)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let store = Store::connect(&settings.database_url)
            .await
            .context("cannot open the database")?;
        let result = work(&settings, store.clone()).await;
        store.close().await;
        result
    })
}

/// Runs one `requests` subcommand.
pub fn run(command: RequestsCommand) -> anyhow::Result<ExitCode> {
    match command {
        RequestsCommand::List {
            status,
            service,
            limit,
            settings,
        } => {
            let filter = RequestFilter {
                service,
                status,
                ..RequestFilter::default()
            };
            let page = with_store(&settings, async |_, store| {
                Ok(store
                    .requests_page(&filter, None, limit.clamp(1, 100_000))
                    .await?
                    .expect("no cursor was given"))
            })?;
            if page.rows.is_empty() {
                println!("No service requests.");
            }
            for r in page.rows {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    r.code,
                    r.status,
                    r.service,
                    r.created_at,
                    r.location.unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        RequestsCommand::Show { code, settings } => {
            let found = with_store(&settings, async |_, store| {
                let Some(r) = store.service_request(&code).await? else {
                    return Ok(None);
                };
                let history = store.request_history(&code).await?;
                Ok(Some((r, history)))
            })?;
            let Some((r, history)) = found else {
                eprintln!("There is no service request {code:?}.");
                return Ok(ExitCode::FAILURE);
            };
            println!("Request {} ({})", r.code, r.service);
            println!("Status: {}", r.status);
            if let Some(note) = &r.status_notes {
                println!("Note: {note}");
            }
            println!("Filed: {} via {}", r.created_at, r.channel);
            for (label, value) in [
                ("Location", &r.location),
                ("Description", &r.description),
                ("Photo", &r.photo),
            ] {
                if let Some(v) = value {
                    println!("{label}: {v}");
                }
            }
            for h in history {
                println!(
                    "{}\t{} -> {}\tby {}\t{}",
                    h.changed_at,
                    h.old_status,
                    h.status,
                    h.changed_by,
                    h.note.unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        RequestsCommand::Update {
            code,
            status,
            note,
            by,
            settings,
        } => {
            if !is_valid_status(&status) {
                anyhow::bail!(
                    "status {status:?}: use 1-32 lower-case letters, digits or _ (e.g. closed)"
                );
            }
            let changed_by = by.unwrap_or_else(|| {
                format!(
                    "cli:{}",
                    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
                )
            });
            let change = StatusChange {
                status,
                note: note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
                changed_by,
                at: jiff::Timestamp::now(),
            };
            let updated = with_store(&settings, async |settings, store| {
                let replies = crate::startup::replies(settings);
                change_status(&store, &replies, &code, &change)
                    .await
                    .context("cannot change the request's status")
            })?;
            let Some(u) = updated else {
                eprintln!("There is no service request {code:?}.");
                return Ok(ExitCode::FAILURE);
            };
            println!(
                "Request {}: {} -> {}.",
                u.request.code, u.old_status, u.request.status
            );
            if u.follow_up.is_some() {
                println!(
                    "The resident will be texted about it (outside their quiet hours, unless they opted out)."
                );
            } else {
                println!(
                    "No text was queued: nothing the resident would notice changed, or nobody can be texted."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
