//! `civictext flows publish | history | diff`: putting a flow version live on every replica
//! from the database, and seeing how each version came to be.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use jiff::Timestamp;

use crate::config::{Overrides, Settings};
use crate::flow::catalog::{Catalog, SourceFile};
use crate::flow::diagnostics::Severity;
use crate::store::Store;
use crate::store::publications::{NewPublication, Origin};

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

/// Checks `file` against the flows being served and, when it has no errors, makes it the
/// published version of its flow. Every replica serves it within its reload interval.
pub fn publish(
    flags: &Overrides,
    file: &Path,
    by: Option<&str>,
    note: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(flags)?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let text = String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!(
            "{} is not UTF-8 text: open it in your editor and save it as UTF-8, then publish again",
            file.display()
        )
    })?;
    let by = by
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "command line".into());
    runtime()?.block_on(async {
        let store = Store::connect(&settings.database_url).await?;
        // Checked as it will be served: beside every other published flow, so a keyword another
        // flow already answers to is found now, not after residents text it.
        let candidate = SourceFile {
            name: name.clone(),
            text: text.clone(),
        };
        let compiled = crate::flow::compile(&candidate.name, &candidate.text);
        let mut sources: Vec<SourceFile> = store
            .published_flows()
            .await?
            .into_iter()
            .filter(|(r, _)| compiled.flow.as_ref().is_none_or(|f| f.id != r.flow_id))
            .map(|(r, _)| r.source)
            .collect();
        sources.push(candidate.clone());
        let (_, checks) = Catalog::build(sources);
        let check = checks
            .into_iter()
            .last()
            .expect("the candidate was checked");
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let errors = check
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        for d in &check.diagnostics {
            writeln!(out, "{}\n", d.render(Some(&text)))?;
        }
        let Some(flow) = compiled.flow.filter(|_| errors == 0) else {
            writeln!(
                out,
                "not published: {} has {errors} error(s); the version being served is unchanged",
                file.display()
            )?;
            return Ok(ExitCode::from(1));
        };
        let id = store
            .publish_flow(&NewPublication {
                flow_id: &flow.id,
                version: &flow.version,
                source: &SourceFile { name, text },
                origin: Origin::Publish,
                by: &by,
                note,
                at: Timestamp::now(),
            })
            .await?;
        match id {
            Some(id) => writeln!(
                out,
                "published {} version {} (publication {id}, by {by}); every replica serves it \
                 within {} s. Conversations already under way finish on their version.",
                flow.id, flow.version, settings.reload_interval
            )?,
            None => writeln!(
                out,
                "{} version {} is already the published version; nothing changed",
                flow.id, flow.version
            )?,
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Lists every publication of `flow`, oldest first, marking the one served.
pub fn history(flags: &Overrides, flow: &str) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(flags)?;
    runtime()?.block_on(async {
        let store = Store::connect(&settings.database_url).await?;
        let history = store.flow_history(flow).await?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if history.is_empty() {
            writeln!(out, "no publications of `{flow}`")?;
            return Ok(ExitCode::from(1));
        }
        writeln!(
            out,
            "{:<6} {:<20} {:<12} {:<8} by",
            "#", "when (UTC)", "version", "from"
        )?;
        let last = history.len() - 1;
        for (i, p) in history.iter().enumerate() {
            writeln!(
                out,
                "{:<6} {:<20} {:<12} {:<8} {}{}{}",
                p.id,
                p.published_at.strftime("%Y-%m-%d %H:%M:%S"),
                p.version.as_deref().unwrap_or("withdrawn"),
                p.origin.as_str(),
                p.published_by,
                p.note
                    .as_deref()
                    .map(|n| format!(" — {n}"))
                    .unwrap_or_default(),
                if i == last && p.version.is_some() {
                    "  (served)"
                } else {
                    ""
                },
            )?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Prints a unified diff between two recorded versions of `flow` (`published` names the one
/// served).
pub fn diff(flags: &Overrides, flow: &str, from: &str, to: &str) -> anyhow::Result<ExitCode> {
    let settings = Settings::load(flags)?;
    runtime()?.block_on(async {
        let store = Store::connect(&settings.database_url).await?;
        let served = store
            .published_flows()
            .await?
            .into_iter()
            .find(|(r, _)| r.flow_id == flow)
            .map(|(r, _)| r.version);
        let resolve = |v: &str| -> anyhow::Result<String> {
            if v == "published" {
                served
                    .clone()
                    .with_context(|| format!("`{flow}` has no published version"))
            } else {
                Ok(v.to_string())
            }
        };
        let (from, to) = (resolve(from)?, resolve(to)?);
        let mut texts = Vec::new();
        for v in [&from, &to] {
            let source = store.flow_version(flow, v).await?.with_context(|| {
                format!("`{flow}` has no version {v}; `civictext flows history {flow}` lists them")
            })?;
            texts.push(source);
        }
        let diff = similar::TextDiff::from_lines(&texts[0].text, &texts[1].text);
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        write!(
            out,
            "{}",
            diff.unified_diff()
                .header(&format!("{flow}@{from}"), &format!("{flow}@{to}"))
        )?;
        Ok(ExitCode::SUCCESS)
    })
}
