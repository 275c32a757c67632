//! `civictext serve`, `civictext config` and `civictext export`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::{Overrides, Settings};
use crate::startup::Application;
use crate::store::Store;
use crate::store::results::ResultsFilter;

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Colour codes are for people at a terminal; in a file or journal they are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Runs the gateway until SIGTERM / Ctrl-C.
pub fn serve(flags: &Overrides) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(flags)?;
    init_logging(&settings.log_format);
    match crate::config::config_file(flags)? {
        Some(file) => tracing::info!(file = %file.display(), "configuration file loaded"),
        None => tracing::info!(
            "no configuration file (--config, CIVICTEXT_CONFIG or ./{}): built-in defaults and the environment",
            crate::config::DEFAULT_CONFIG_FILE
        ),
    }
    // Each client connection is a file descriptor: take the most the system allows this
    // process (the soft limit is often 1024, the hard one far higher).
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::warn!(error = %e, "cannot raise the open-files limit");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let app = Application::build(&settings).await?;
        tracing::info!(
            addr = %app.local_addr(),
            webhook = %format!("{}{}", settings.public_url.as_deref().unwrap_or(&format!("http://{}", app.local_addr())), crate::http::webhook::SMS_PATH),
            "civictext is listening"
        );
        app.run_until_stopped().await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the effective settings with secrets hidden.
pub fn config(flags: &Overrides) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(flags)?;
    let mut shown = match crate::config::config_file(flags)? {
        Some(file) => format!("# configuration file: {}\n", file.display()),
        None => "# no configuration file: built-in defaults and the environment\n".to_string(),
    };
    shown.push_str(&settings.redacted());
    let mut out = std::io::stdout().lock();
    out.write_all(shown.as_bytes())?;
    out.flush()?;
    settings.check_flows_dir()?;
    Ok(ExitCode::SUCCESS)
}

/// Output format of `civictext export`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

/// Writes one row per session of `flow`, streamed from the database (memory stays flat).
pub fn export(
    flags: &Overrides,
    flow: &str,
    format: Format,
    include_phones: bool,
) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(flags)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let store = Store::connect(&settings.database_url).await?;
        let pseudonyms = crate::startup::pseudonyms(&settings, &store).await?;
        // Columns: the current flow's questions, then those only older versions asked.
        let flows = crate::gateway::reload::offline_set(&store, &settings.flows).await?;
        let filter = ResultsFilter {
            flow: Some(flow.to_string()),
            ..ResultsFilter::default()
        };
        // A flow no longer in the directory can still have sessions to export; a mistyped id
        // has neither, and an empty file would look like a flow nobody answered.
        if !flows.known_versions().iter().any(|(id, _)| id == flow)
            && store
                .responses_page(&filter, None, 1)
                .await?
                .is_ok_and(|page| page.rows.is_empty())
        {
            let mut known: Vec<&str> = flows
                .catalog()
                .flows()
                .iter()
                .map(|f| f.id.as_str())
                .collect();
            known.sort_unstable();
            anyhow::bail!(
                "no flow `{flow}` in {} and no sessions of it in the database; flows: {}",
                settings.flows.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
        }
        let questions = crate::export::questions(&flows, flow);
        let mut rows = store.responses_stream(filter);
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        match format {
            Format::Csv => {
                let table = crate::export::CsvTable::new(questions, pseudonyms, include_phones);
                let mut csv = crate::csv_safe::Writer::new(&mut out);
                table.write_header(&mut csv)?;
                while let Some(row) = rows.recv().await {
                    table.write_row(&mut csv, &row?)?;
                }
                csv.flush()?;
            }
            Format::Jsonl => {
                while let Some(row) = rows.recv().await {
                    let line = crate::export::jsonl(&row?, &questions, &pseudonyms, include_phones);
                    writeln!(out, "{line}")?;
                }
            }
        }
        out.flush()?;
        store.close().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
