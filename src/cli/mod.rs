//! The command line: `serve`, `flows check`, `flows test`, `simulate`, …

mod backup;
mod bench;
mod bench_results;
mod broadcast;
mod contacts;
mod flows;
mod init;
mod publish;
mod requests;
mod serve;
mod simulate;
mod staff;
mod tokens;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// civictext: scripted SMS conversations for cities and agencies.
#[derive(Debug, Parser)]
#[command(name = "civictext", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway: Twilio webhooks in, replies out. Needs no configuration to try it:
    /// SQLite file civictext.db, flows from conversation-flows/, 127.0.0.1:8080.
    Serve(crate::config::Overrides),
    /// Print the effective configuration (secrets hidden), after checking it as `serve` does.
    Config(crate::config::Overrides),
    /// Create a working starter in DIR (default: here): the example flows with their tests, a
    /// commented civictext.toml and a .gitignore for the database. Never overwrites a file.
    Init {
        /// The directory to set up (created if missing).
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Export a flow's sessions and answers, one row per session.
    Export {
        /// The flow's id.
        #[arg(long)]
        flow: String,
        #[arg(long, value_enum, default_value = "csv")]
        format: serve::Format,
        /// Add residents' phone numbers (a `phone` column beside the pseudonymous `contact`).
        #[arg(long)]
        include_phones: bool,
        #[command(flatten)]
        settings: crate::config::Overrides,
    },
    /// API tokens for agencies: create, list, revoke, and the log of their use.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Staff accounts of the console at /console: add (prints a one-time link to set the
    /// password), link (a new one), list.
    #[command(subcommand)]
    Staff(staff::StaffCommand),
    /// Service requests: list them, show one with its history, change its status (which
    /// texts the resident).
    #[command(subcommand)]
    Requests(requests::RequestsCommand),
    /// One resident's data: everything held about them (`show`), or erase it (`forget`).
    #[command(subcommand)]
    Contacts(contacts::ContactsCommand),
    /// Copy the SQLite database to FILE while the gateway keeps running (a consistent
    /// snapshot, checked for integrity). For PostgreSQL it names the pg_dump command to use.
    Backup {
        /// The backup file to create; it must not exist yet.
        file: PathBuf,
        #[command(flatten)]
        settings: crate::config::Overrides,
    },
    /// Text consenting residents first: a broadcast (`--text`) or a survey invitation
    /// (`--flow`), queued for the running gateway to send; `broadcast status` and
    /// `broadcast cancel` follow and stop it.
    Broadcast(Box<broadcast::BroadcastArgs>),
    /// Check, test and inspect conversation flows.
    #[command(subcommand)]
    Flows(FlowsCommand),
    /// Have a conversation with a flow in the terminal, using the real engine. Each line you
    /// type (or pipe in) is one text from the resident.
    Simulate(simulate::Args),
    /// Measure residents served per second against an HTTP-only and a one-transaction-per-text
    /// baseline, and check that every acknowledged answer was stored exactly once.
    Bench(bench::Args),
    /// Measure responses streamed per second (CSV and JSON) and peak memory on a database of
    /// many answers, against a plain query over the same rows.
    BenchResults(bench_results::Args),
    /// The benchmark's HTTP ceiling: a fixed TwiML reply to every webhook.
    #[command(hide = true)]
    BenchHello {
        #[arg(long, default_value = "127.0.0.1:8081")]
        bind: std::net::SocketAddr,
    },
    /// The benchmark's storage baseline: the gateway with one transaction per text.
    #[command(hide = true)]
    BenchNaive {
        /// SQLite in WAL mode with synchronous FULL instead of the driver's defaults.
        #[arg(long)]
        wal: bool,
        #[command(flatten)]
        flags: crate::config::Overrides,
    },
}

#[derive(Debug, Subcommand)]
pub enum FlowsCommand {
    /// Report every problem in the flow files with file:line:column and a fix, and what each
    /// message costs to send. Exits non-zero when any flow has errors.
    Check {
        /// The flows directory.
        #[arg(default_value = "conversation-flows")]
        dir: PathBuf,
        /// Leave out the per-message cost table.
        #[arg(long)]
        no_costs: bool,
    },
    /// Run the conversation tests (`*.test.yaml`) kept beside the flows.
    Test {
        /// The flows directory.
        #[arg(default_value = "conversation-flows")]
        dir: PathBuf,
        /// Print the whole exchange of every test, not only of failing ones.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Check a flow file beside the flows being served and, if it has no errors, make it the
    /// published version of its flow: every replica serves it within seconds. Conversations
    /// already under way finish on their version.
    Publish {
        /// The flow file.
        file: PathBuf,
        /// Who is publishing, for the history [default: $USER].
        #[arg(long)]
        by: Option<String>,
        /// Why, for the history.
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        settings: crate::config::Overrides,
    },
    /// List every version of a flow that was published: when, from a file or by whom.
    History {
        /// The flow's id.
        flow: String,
        #[command(flatten)]
        settings: crate::config::Overrides,
    },
    /// Show what changed between two versions of a flow (`published` for the one served).
    Diff {
        /// The flow's id.
        flow: String,
        /// The older version.
        from: String,
        /// The newer version.
        #[arg(default_value = "published")]
        to: String,
        #[command(flatten)]
        settings: crate::config::Overrides,
    },
}

/// Runs the command line; the exit code says whether it succeeded.
pub fn main() -> ExitCode {
    let cli = Cli::parse_from(broadcast::rewrite_language_texts(
        std::env::args_os().collect(),
    ));
    let result = match cli.command {
        Command::Serve(flags) => serve::serve(&flags),
        Command::Config(flags) => serve::config(&flags),
        Command::Init { dir } => init::run(&dir),
        Command::Export {
            flow,
            format,
            include_phones,
            settings,
        } => serve::export(&settings, &flow, format, include_phones),
        Command::Tokens(command) => tokens::run(command),
        Command::Staff(command) => staff::run(command),
        Command::Requests(command) => requests::run(command),
        Command::Contacts(command) => contacts::run(command),
        Command::Backup { file, settings } => backup::run(&settings, &file),
        Command::Broadcast(args) => broadcast::run(*args),
        Command::Flows(FlowsCommand::Check { dir, no_costs }) => flows::check(&dir, !no_costs),
        Command::Flows(FlowsCommand::Test { dir, verbose }) => flows::test(&dir, verbose),
        Command::Flows(FlowsCommand::Publish {
            file,
            by,
            note,
            settings,
        }) => publish::publish(&settings, &file, by.as_deref(), note.as_deref()),
        Command::Flows(FlowsCommand::History { flow, settings }) => {
            publish::history(&settings, &flow)
        }
        Command::Flows(FlowsCommand::Diff {
            flow,
            from,
            to,
            settings,
        }) => publish::diff(&settings, &flow, &from, &to),
        Command::Simulate(args) => simulate::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchResults(args) => bench_results::run(args),
        Command::BenchHello { bind } => bench::hello(bind),
        Command::BenchNaive { wal, flags } => bench::naive(&flags, wal),
    };
    match result {
        Ok(code) => code,
        // `civictext flows check | head`: the reader has gone, so there is no one left to tell.
        // Exit as a process killed by SIGPIPE reports itself (128 + 13), quietly.
        Err(e) if is_closed_pipe(&e) => ExitCode::from(141),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// True when `e` comes from writing to a pipe whose reader has closed it.
fn is_closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<csv::Error>()
                .is_some_and(|c| matches!(c.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe))
    })
}
