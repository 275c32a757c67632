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
use crate::store::publications::{NewPublication, Origin};
use crate::store::{RecordedFlow, Store, StoreError};

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
    /// Every file in the directory, readable or not.
    pub files: Vec<String>,
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
        let names = seen.iter().map(|(name, _)| name.clone()).collect();
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
            files: names,
        }))
    }
}

/// Re-reads the flows directory every `every`, importing edits as new published versions, and
/// serves whatever is published in the store (by this replica, another one, or a person) as
/// soon as it notices. Runs until the task is dropped.
pub async fn watch(gateway: Arc<Gateway>, mut loader: Loader, mut served: Served, every: Duration) {
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
                if !loaded.errors.is_empty() {
                    crate::telemetry::record_reload_error();
                }
                match import(&gateway.store, &loaded).await {
                    Ok(()) => loader.mark_recorded(&loaded.unrecorded),
                    Err(e) => tracing::error!(error = %e, "could not record flow versions"),
                }
                served.dir_errors = loaded.errors;
                // Shown at once, even when no publication changed (a newly broken file).
                served.show(&gateway);
            }
            Err(e) => {
                crate::telemetry::record_reload_error();
                tracing::error!(
                    error = format!("{e:#}"),
                    "could not read the flows directory; keeping the flows being served"
                );
            }
        }
        if let Err(e) = served.refresh(&gateway).await {
            tracing::error!(error = %e, "could not read the published flows; keeping the flows being served");
        }
    }
}

/// What a replica serves: the published flows as of publication `head`, and the problems to
/// report.
#[derive(Debug, Default)]
pub struct Served {
    head: i64,
    /// The flows directory's broken files.
    dir_errors: Vec<Diagnostic>,
    /// Published flows that could not be served beside the others (a keyword taken twice).
    published_errors: Vec<Diagnostic>,
    loaded: usize,
}

impl Served {
    /// Reads what is published and builds the flows to serve, keeping `previous`'s versions
    /// for sessions still running on them.
    pub async fn load(
        store: &Store,
        previous: &FlowSet,
        dir_errors: Vec<Diagnostic>,
    ) -> Result<(Served, FlowSet), StoreError> {
        let mut served = Served {
            dir_errors,
            ..Served::default()
        };
        let flows = served.build(store, previous).await?;
        Ok((served, flows))
    }

    async fn build(&mut self, store: &Store, previous: &FlowSet) -> Result<FlowSet, StoreError> {
        let head = store.publication_head().await?;
        let published = store.published_flows().await?;
        let (catalog, checks) =
            Catalog::build(published.into_iter().map(|(r, _)| r.source).collect());
        self.published_errors = checks
            .into_iter()
            .flat_map(|c| c.diagnostics)
            .filter(Diagnostic::is_error)
            .collect();
        for d in &self.published_errors {
            tracing::error!(file = %d.file, line = d.pos.line, column = d.pos.column, "a published flow cannot be served: {}", d.message);
        }
        self.head = head;
        self.loaded = catalog.flows().len();
        let recorded = store.load_flow_versions().await?;
        Ok(previous
            .replace(catalog)
            .with_recorded(Arc::new(Recorded::new(recorded))))
    }

    /// Serves a newer publication, if there is one.
    async fn refresh(&mut self, gateway: &Gateway) -> Result<(), StoreError> {
        if gateway.store.publication_head().await? == self.head {
            return Ok(());
        }
        let flows = self.build(&gateway.store, &gateway.flows()).await?;
        let versions: Vec<String> = flows
            .catalog()
            .flows()
            .iter()
            .map(|f| format!("{}@{}", f.id, f.version))
            .collect();
        gateway.set_flows(flows);
        self.show(gateway);
        tracing::info!(flows = ?versions, "flows reloaded");
        Ok(())
    }

    /// Every problem to report: broken files, then published flows that cannot be served.
    pub fn errors(&self) -> Vec<Diagnostic> {
        self.dir_errors
            .iter()
            .chain(&self.published_errors)
            .cloned()
            .collect()
    }

    fn show(&self, gateway: &Gateway) {
        let errors = self.errors();
        crate::telemetry::record_flows(self.loaded, broken_files(&errors));
        gateway.set_flow_errors(errors);
    }
}

/// Records what changed in the flows directory: a file edited (or seen for the first time, or
/// for a flow not published now) becomes that flow's published version; a flow whose file was
/// removed is withdrawn — unless a person published it, which only a person undoes.
pub async fn import(store: &Store, loaded: &Loaded) -> Result<(), StoreError> {
    store
        .save_flow_sources(&loaded.catalog, &loaded.unrecorded)
        .await?;
    let published = store.published_flows().await?;
    let now = jiff::Timestamp::now();
    for flow in loaded.catalog.flows() {
        let Some(source) = loaded.serving.iter().find(|s| s.name == flow.source) else {
            continue;
        };
        let edited = loaded.unrecorded.iter().any(|s| s.name == flow.source);
        let unpublished = !published.iter().any(|(r, _)| r.flow_id == flow.id);
        if edited || unpublished {
            let id = store
                .publish_flow(&NewPublication {
                    flow_id: &flow.id,
                    version: &flow.version,
                    source,
                    origin: Origin::File,
                    by: &source.name,
                    note: None,
                    at: now,
                })
                .await?;
            if id.is_some() {
                tracing::info!(flow = %flow.id, version = %flow.version, file = %source.name, "flow file imported as the published version");
            }
        }
    }
    for (flow, publication) in &published {
        let gone = !loaded.files.contains(&publication.published_by)
            && !loaded.catalog.flows().iter().any(|f| f.id == flow.flow_id);
        if publication.origin == Origin::File && gone {
            store
                .withdraw_flow(&flow.flow_id, &publication.published_by, now)
                .await?;
            tracing::info!(flow = %flow.flow_id, file = %publication.published_by, "flow file removed: the flow is no longer served");
        }
    }
    Ok(())
}

/// How many files the diagnostics of a load name.
pub fn broken_files(errors: &[Diagnostic]) -> usize {
    errors
        .iter()
        .map(|d| d.file.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// The flows a command run beside the gateway (`export`, `contacts forget`) reads results
/// with: what the replicas serve (the latest publications) and every version ever recorded, so
/// answers given to an older version are still understood; before anything was published, the
/// flows directory's.
pub async fn offline_set(store: &Store, dir: &Path) -> Result<FlowSet, StoreError> {
    let (_, flows) = Served::load(store, &FlowSet::default(), Vec::new()).await?;
    if !flows.catalog().flows().is_empty() {
        return Ok(flows);
    }
    let current = crate::flows_dir::load(dir)
        .map(|(catalog, _)| catalog)
        .unwrap_or_default();
    Ok(flows.replace(current))
}
