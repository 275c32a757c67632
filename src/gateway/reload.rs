//! Loading flows at start-up and swapping edits in while the gateway runs. A file with errors
//! never replaces a working version: the last good one keeps serving and the problems are
//! logged with file:line:column.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::flow::Diagnostic;
use crate::flow::catalog::{Catalog, SourceFile};
use crate::flows_dir;
use crate::store::RecordedFlow;

use super::flows::Recorded;
use super::{FlowSet, Gateway};

/// Keeps the last good text of each flow file.
#[derive(Debug, Default)]
pub struct Loader {
    dir: PathBuf,
    last_good: HashMap<String, String>,
    /// The text each file was last recorded in the store with, so that only changes are written.
    recorded: HashMap<String, String>,
    /// The texts (or problems) last read, to notice a change cheaply.
    last_seen: Vec<(String, String)>,
}

/// The outcome of reading the flows directory.
#[derive(Debug)]
pub struct Loaded {
    /// The flows to serve.
    pub catalog: Catalog,
    /// The text served for each file: its current one, or its last good one when it is broken.
    pub serving: Vec<SourceFile>,
    /// Those of `serving` not yet recorded in the store as their file's newest text.
    pub unrecorded: Vec<SourceFile>,
    /// The errors of the broken files (each served at its last good version, if it had one).
    pub errors: Vec<Diagnostic>,
}

impl Loader {
    /// A loader for the flows directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Loader {
        Loader {
            dir: dir.into(),
            ..Loader::default()
        }
    }

    /// Remembers the versions recorded by earlier runs (the one each file was last served at
    /// last, as the store lists them), so that a file found broken at start-up keeps serving
    /// its last recorded version, as it would have had the edit been made while the gateway ran.
    pub fn remember(&mut self, recorded: &[RecordedFlow]) {
        for r in recorded {
            let s = &r.source;
            self.last_good.insert(s.name.clone(), s.text.clone());
            self.recorded.insert(s.name.clone(), s.text.clone());
        }
    }

    /// Notes that `sources` are now recorded in the store.
    pub fn mark_recorded(&mut self, sources: &[SourceFile]) {
        for s in sources {
            self.recorded.insert(s.name.clone(), s.text.clone());
        }
    }

    /// The directory watched.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads the directory and builds a catalog in which every file with errors (including one
    /// that cannot be read as UTF-8 text) is replaced by its last good text, or left out if it
    /// never had one. Returns None when nothing changed since the last call.
    pub fn load(&mut self) -> anyhow::Result<Option<Loaded>> {
        let files = flows_dir::read_flows(&self.dir)?;
        let mut seen: Vec<(String, String)> = files
            .readable
            .iter()
            .map(|f| (f.name.clone(), f.text.clone()))
            .collect();
        seen.extend(files.unreadable.iter().map(|c| {
            let problem = c.diagnostics.first().map(|d| d.to_string());
            (c.name.clone(), problem.unwrap_or_default())
        }));
        if seen == self.last_seen && !self.last_seen.is_empty() {
            return Ok(None);
        }
        self.last_seen = seen;
        let (_, mut checks) = Catalog::build(files.readable);
        checks.extend(files.unreadable);
        checks.sort_by(|a, b| a.name.cmp(&b.name));
        let mut serving = Vec::with_capacity(checks.len());
        let mut errors = Vec::new();
        for check in checks {
            let file_errors: Vec<Diagnostic> = check
                .diagnostics
                .into_iter()
                .filter(Diagnostic::is_error)
                .collect();
            if file_errors.is_empty() {
                self.last_good
                    .insert(check.name.clone(), check.text.clone());
                serving.push(SourceFile {
                    name: check.name,
                    text: check.text,
                });
                continue;
            }
            for d in &file_errors {
                tracing::error!(file = %d.file, line = d.pos.line, column = d.pos.column, hint = d.hint.as_deref().unwrap_or(""), "{}", d.message);
            }
            errors.extend(file_errors);
            match self.last_good.get(&check.name) {
                Some(text) => {
                    tracing::warn!(file = %check.name, "flow file has errors; the last good version keeps serving");
                    serving.push(SourceFile {
                        name: check.name,
                        text: text.clone(),
                    });
                }
                None => {
                    tracing::warn!(file = %check.name, "flow file has errors and is not served")
                }
            }
        }
        let (catalog, _) = Catalog::build(serving.clone());
        let unrecorded = serving
            .iter()
            .filter(|s| self.recorded.get(&s.name) != Some(&s.text))
            .cloned()
            .collect();
        Ok(Some(Loaded {
            catalog,
            serving,
            unrecorded,
            errors,
        }))
    }
}

/// Re-reads the flows directory every `every` and swaps changes into `gateway`, recording new
/// versions in the store. Runs until the task is dropped.
pub async fn watch(gateway: Arc<Gateway>, mut loader: Loader, every: Duration) {
    // Polling rather than inotify: it also sees files replaced through symlinks (Kubernetes
    // ConfigMaps) and on network filesystems, and a few small files cost nothing to re-read.
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let (back, result) = match tokio::task::spawn_blocking(move || {
            let r = loader.load();
            (loader, r)
        })
        .await
        {
            Ok(pair) => pair,
            Err(e) => {
                tracing::error!(error = %e, "flow reload task failed; flow reloading stops");
                return;
            }
        };
        loader = back;
        match result {
            Ok(None) => {}
            Ok(Some(loaded)) => {
                let current = gateway.flows();
                let versions: Vec<String> = loaded
                    .catalog
                    .flows()
                    .iter()
                    .map(|f| format!("{}@{}", f.id, f.version))
                    .collect();
                match gateway
                    .store
                    .save_flow_sources(&loaded.catalog, &loaded.unrecorded)
                    .await
                {
                    Ok(()) => loader.mark_recorded(&loaded.unrecorded),
                    Err(e) => tracing::error!(error = %e, "could not record flow versions"),
                }
                crate::telemetry::record_flows(
                    loaded.catalog.flows().len(),
                    broken_files(&loaded.errors),
                );
                if !loaded.errors.is_empty() {
                    crate::telemetry::record_reload_error();
                }
                gateway.set_flows(current.replace(loaded.catalog));
                gateway.set_flow_errors(loaded.errors);
                tracing::info!(flows = ?versions, "flows reloaded");
            }
            Err(e) => {
                crate::telemetry::record_reload_error();
                tracing::error!(
                    error = format!("{e:#}"),
                    "could not read the flows directory; keeping the flows being served"
                );
            }
        }
    }
}

/// How many files the diagnostics of a load name.
pub fn broken_files(errors: &[Diagnostic]) -> usize {
    errors
        .iter()
        .map(|d| d.file.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// Builds the flow set served at start-up: the directory's flows, plus every version recorded
/// in the store so sessions begun on an older version can finish on it (compiled when needed).
pub fn initial_set(catalog: Catalog, recorded: Vec<RecordedFlow>) -> FlowSet {
    FlowSet::new(catalog, []).with_recorded(Arc::new(Recorded::new(recorded)))
}
