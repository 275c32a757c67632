//! Loading flows at start-up and swapping edits in while the gateway runs. A file with errors
//! never replaces a working version: the last good one keeps serving and the problems are
//! logged with file:line:column.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::flow::catalog::{Catalog, SourceFile};
use crate::flows_dir;

use super::{FlowSet, Gateway};

/// Keeps the last good text of each flow file.
#[derive(Debug, Default)]
pub struct Loader {
    dir: PathBuf,
    last_good: HashMap<String, String>,
    /// The texts last read, to notice a change cheaply.
    last_seen: Vec<(String, String)>,
}

impl Loader {
    /// A loader for the flows directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Loader {
        Loader {
            dir: dir.into(),
            ..Loader::default()
        }
    }

    /// Remembers earlier good texts (oldest first, as the store lists them), so that a file
    /// found broken at start-up keeps serving its last recorded version, as it would have had
    /// the edit been made while the gateway ran.
    pub fn remember(&mut self, recorded: &[SourceFile]) {
        for s in recorded {
            self.last_good.insert(s.name.clone(), s.text.clone());
        }
    }

    /// The directory watched.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads the directory and builds a catalog in which every file with errors is replaced by
    /// its last good text (or left out if it never had one). Returns None when nothing changed
    /// since the last call.
    pub fn load(&mut self) -> anyhow::Result<Option<(Catalog, Vec<SourceFile>)>> {
        let files = flows_dir::read_flows(&self.dir)?;
        let seen: Vec<(String, String)> = files
            .iter()
            .map(|f| (f.name.clone(), f.text.clone()))
            .collect();
        if seen == self.last_seen && !self.last_seen.is_empty() {
            return Ok(None);
        }
        self.last_seen = seen;
        let (_, checks) = Catalog::build(files.clone());
        let mut serving = Vec::with_capacity(files.len());
        for (file, check) in files.into_iter().zip(&checks) {
            let errors: Vec<_> = check.diagnostics.iter().filter(|d| d.is_error()).collect();
            if errors.is_empty() {
                self.last_good.insert(file.name.clone(), file.text.clone());
                serving.push(file);
                continue;
            }
            for d in &errors {
                tracing::error!(file = %d.file, line = d.pos.line, column = d.pos.column, hint = d.hint.as_deref().unwrap_or(""), "{}", d.message);
            }
            match self.last_good.get(&file.name) {
                Some(text) => {
                    tracing::warn!(file = %file.name, "flow file has errors; the last good version keeps serving");
                    serving.push(SourceFile {
                        name: file.name,
                        text: text.clone(),
                    });
                }
                None => tracing::warn!(file = %file.name, "flow file has errors and is not served"),
            }
        }
        let (catalog, _) = Catalog::build(serving.clone());
        Ok(Some((catalog, serving)))
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
            Ok(Some((catalog, sources))) => {
                let current = gateway.flows();
                let versions: Vec<String> = catalog
                    .flows()
                    .iter()
                    .map(|f| format!("{}@{}", f.id, f.version))
                    .collect();
                if let Err(e) = gateway.store.save_flow_sources(&catalog, &sources).await {
                    tracing::error!(error = %e, "could not record flow versions");
                }
                gateway.set_flows(current.replace(catalog));
                tracing::info!(flows = ?versions, "flows reloaded");
            }
            Err(e) => tracing::error!(
                error = format!("{e:#}"),
                "could not read the flows directory; keeping the flows being served"
            ),
        }
    }
}

/// Builds the flow set served at start-up: the directory's flows, plus every version recorded
/// in the store so sessions begun on an older version can finish on it.
pub fn initial_set(catalog: Catalog, stored: Vec<SourceFile>) -> FlowSet {
    let older = stored
        .into_iter()
        .filter_map(|s| crate::flow::compile(&s.name, &s.text).flow.map(Arc::new));
    FlowSet::new(catalog, older)
}
