//! `civictext serve`, `civictext config` and `civictext export`.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::{Overrides, Settings};
use crate::startup::Application;
use crate::store::{ExportSession, Store};

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

/// Writes one row per session of `flow`.
pub fn export(
    flags: &Overrides,
    flow: &str,
    format: Format,
    include_phones: bool,
) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(flags)?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let sessions = runtime.block_on(async {
        let store = Store::connect(&settings.database_url).await?;
        store.export(flow).await
    })?;
    let catalog = crate::flows_dir::load(&settings.flows).ok().map(|(c, _)| c);
    let current = catalog.as_ref().and_then(|c| c.get(flow));
    // A flow no longer in the directory can still have sessions to export; a mistyped id has
    // neither, and an empty file would look like a flow nobody answered.
    if current.is_none() && sessions.is_empty() {
        let mut known: Vec<&str> = catalog
            .as_ref()
            .map(|c| c.flows().iter().map(|f| f.id.as_str()).collect())
            .unwrap_or_default();
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
    // Columns follow the current flow's question order; answers to questions an older version
    // had come after them.
    let mut questions: Vec<String> = current
        .map(|f| f.questions().map(|q| q.id.clone()).collect())
        .unwrap_or_default();
    let extra: BTreeSet<String> = sessions
        .iter()
        .flat_map(|s| s.answers.keys().cloned())
        .filter(|q| !questions.contains(q))
        .collect();
    questions.extend(extra);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        Format::Csv => write_csv(&mut out, &sessions, &questions, include_phones)?,
        Format::Jsonl => write_jsonl(&mut out, &sessions, &questions, include_phones)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn contact_column(s: &ExportSession, include_phones: bool) -> String {
    if include_phones {
        s.phone.clone()
    } else {
        format!("contact-{}", s.contact_id)
    }
}

/// RFC 4180 CSV, UTF-8: fixed columns (with the tracking code of a filed request), then
/// `<question>` (normalised) and `<question>_raw`. Cells that a spreadsheet would run as a
/// formula are written as text (see [`crate::csv_safe`]).
pub fn write_csv(
    out: &mut impl Write,
    sessions: &[ExportSession],
    questions: &[String],
    include_phones: bool,
) -> anyhow::Result<()> {
    let mut w = crate::csv_safe::Writer::new(out);
    let mut header = vec![
        "session_id".to_string(),
        "contact".into(),
        "flow_version".into(),
        "language".into(),
        "status".into(),
        "started_at".into(),
        "updated_at".into(),
        "ended_at".into(),
        "tracking_code".into(),
    ];
    for q in questions {
        header.push(q.clone());
        header.push(format!("{q}_raw"));
    }
    w.write_record(&header)?;
    for s in sessions {
        let mut row = vec![
            s.session_id.to_string(),
            contact_column(s, include_phones),
            s.flow_version.clone(),
            s.language.clone(),
            s.status.clone(),
            s.started_at.clone(),
            s.updated_at.clone(),
            s.ended_at.clone().unwrap_or_default(),
            s.tracking_code.clone().unwrap_or_default(),
        ];
        for q in questions {
            let a = s.answers.get(q);
            row.push(a.map(|a| a.value.clone()).unwrap_or_default());
            row.push(a.map(|a| a.raw.clone()).unwrap_or_default());
        }
        w.write_record(&row)?;
    }
    w.flush()?;
    Ok(())
}

/// One JSON object per line and session.
pub fn write_jsonl(
    out: &mut impl Write,
    sessions: &[ExportSession],
    questions: &[String],
    include_phones: bool,
) -> anyhow::Result<()> {
    for s in sessions {
        let answers: serde_json::Map<String, serde_json::Value> = questions
            .iter()
            .filter_map(|q| {
                s.answers.get(q).map(|a| {
                    (
                        q.clone(),
                        serde_json::json!({"value": a.value, "raw": a.raw, "category": a.category}),
                    )
                })
            })
            .collect();
        let line = serde_json::json!({
            "session_id": s.session_id,
            "contact": contact_column(s, include_phones),
            "flow_version": s.flow_version,
            "language": s.language,
            "status": s.status,
            "started_at": s.started_at,
            "updated_at": s.updated_at,
            "ended_at": s.ended_at,
            "tracking_code": s.tracking_code,
            "answers": answers,
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}
