//! The flows a gateway serves: the current catalog, plus every version a session may still be
//! running (a session finishes on the version it started with, even after an edit).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::flow::Flow;
use crate::flow::catalog::{Catalog, SourceFile};
use crate::store::RecordedFlow;

type Key = (String, String);

/// Versions recorded in the store by earlier runs. Their texts are kept, but each is compiled
/// only when a session on it texts: start-up stays fast however long the history grows, and
/// most old versions have no session left.
#[derive(Debug, Default)]
pub struct Recorded {
    sources: HashMap<Key, SourceFile>,
    compiled: Mutex<HashMap<Key, Option<Arc<Flow>>>>,
}

impl Recorded {
    /// The recorded versions; a later entry for the same version replaces an earlier one.
    pub fn new(versions: impl IntoIterator<Item = RecordedFlow>) -> Recorded {
        Recorded {
            sources: versions
                .into_iter()
                .map(|r| ((r.flow_id, r.version), r.source))
                .collect(),
            compiled: Mutex::default(),
        }
    }

    /// The version compiled from its recorded text (once, then remembered). None when it was
    /// never recorded, or its text no longer compiles to that flow and version.
    fn get(&self, id: &str, version: &str) -> Option<Arc<Flow>> {
        let key = (id.to_string(), version.to_string());
        let mut compiled = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(flow) = compiled.get(&key) {
            return flow.clone();
        }
        let source = self.sources.get(&key)?;
        let flow = crate::flow::compile(&source.name, &source.text)
            .flow
            .filter(|f| f.id == id && f.version == version)
            .map(Arc::new);
        if flow.is_none() {
            tracing::warn!(flow = id, version, file = %source.name, "a recorded flow version no longer compiles");
        }
        compiled.insert(key, flow.clone());
        flow
    }

    /// How many recorded versions have been compiled so far.
    pub fn compiled_count(&self) -> usize {
        self.compiled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

/// An immutable set of flows; a reload builds a new one and swaps it in.
#[derive(Debug, Default, Clone)]
pub struct FlowSet {
    current: Catalog,
    /// Compiled versions: the current ones and those replaced while this process ran.
    versions: HashMap<Key, Arc<Flow>>,
    recorded: Arc<Recorded>,
}

impl FlowSet {
    /// A set serving `current`, still able to finish sessions on `older` versions.
    pub fn new(current: Catalog, older: impl IntoIterator<Item = Arc<Flow>>) -> FlowSet {
        let mut versions: HashMap<(String, String), Arc<Flow>> = older
            .into_iter()
            .map(|f| ((f.id.clone(), f.version.clone()), f))
            .collect();
        for f in current.flows() {
            versions.insert((f.id.clone(), f.version.clone()), f.clone());
        }
        FlowSet {
            current,
            versions,
            recorded: Arc::default(),
        }
    }

    /// The same set, also able to finish sessions on the versions `recorded` by earlier runs.
    pub fn with_recorded(mut self, recorded: Arc<Recorded>) -> FlowSet {
        self.recorded = recorded;
        self
    }

    /// The same older versions with a new current catalog.
    pub fn replace(&self, current: Catalog) -> FlowSet {
        FlowSet::new(current, self.versions.values().cloned()).with_recorded(self.recorded.clone())
    }

    /// Every version known, as (flow, version): current ones, those replaced while this process
    /// ran, and those recorded by earlier runs, sorted. Fetch one with [`FlowSet::version`].
    pub fn known_versions(&self) -> Vec<(String, String)> {
        let mut keys: Vec<Key> = self
            .versions
            .keys()
            .chain(self.recorded.sources.keys())
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// The current catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.current
    }

    /// A specific version of a flow: a current or recently replaced one, or one recorded by an
    /// earlier run (compiled on first use).
    pub fn version(&self, id: &str, version: &str) -> Option<Arc<Flow>> {
        self.versions
            .get(&(id.to_string(), version.to_string()))
            .cloned()
            .or_else(|| self.recorded.get(id, version))
    }

    /// The current flow a text starts, with the language its keyword selects.
    pub fn by_keyword(&self, text: &str) -> Option<(Arc<Flow>, Option<String>)> {
        self.current
            .by_keyword(text)
            .map(|(f, l)| (f.clone(), l.map(str::to_string)))
    }

    /// Keywords to offer a resident speaking `lang`: those in that language or in none, or all
    /// of them when that leaves nothing.
    pub fn keywords_for(&self, lang: Option<&str>) -> Vec<String> {
        let mut out = Vec::new();
        for f in self.current.flows() {
            let lang = lang
                .filter(|l| f.languages.iter().any(|x| x == l))
                .unwrap_or(f.default_language());
            if let Some(k) = f
                .keywords
                .iter()
                .find(|k| k.language.as_deref().is_none_or(|kl| kl == lang))
            {
                out.push(k.word.clone());
            }
        }
        if out.is_empty() {
            out = self
                .current
                .keywords()
                .into_iter()
                .map(str::to_string)
                .collect();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "flow: poll\nkeywords: [POLL]\nlanguages: [en]\nsteps:\n  - ask: day\n    type: yes_no\n    text: Is Monday good?\n";
    const NEW: &str = "flow: poll\nkeywords: [POLL]\nlanguages: [en]\nsteps:\n  - ask: day\n    type: yes_no\n    text: Is Tuesday good?\n";

    fn recorded(text: &str) -> RecordedFlow {
        let flow = crate::flow::compile("poll.yaml", text).flow.unwrap();
        RecordedFlow {
            flow_id: flow.id.clone(),
            version: flow.version.clone(),
            source: SourceFile {
                name: "poll.yaml".into(),
                text: text.into(),
            },
        }
    }

    #[test]
    fn recorded_versions_are_compiled_only_when_a_session_needs_one() {
        let old = recorded(OLD);
        let (catalog, _) = Catalog::build(vec![
            old.source.clone(),
            SourceFile {
                name: "unused.yaml".into(),
                text: String::new(),
            },
        ]);
        let (current, _) = Catalog::build(vec![recorded(NEW).source]);
        let history = Arc::new(Recorded::new([old.clone(), recorded(NEW)]));
        let set = FlowSet::new(current, []).with_recorded(history.clone());
        assert_eq!(history.compiled_count(), 0, "nothing compiled up front");

        let flow = set.version("poll", &old.version).expect("the old version");
        assert_eq!(flow.version, catalog.flows()[0].version);
        assert_eq!(history.compiled_count(), 1);
        // Asked again, from a set swapped in by a reload: compiled once only.
        let reloaded = set.replace(set.catalog().clone());
        assert!(reloaded.version("poll", &old.version).is_some());
        assert_eq!(history.compiled_count(), 1);
        assert!(set.version("poll", "000000000000").is_none());
    }

    #[test]
    fn a_recorded_text_that_no_longer_compiles_is_not_served() {
        let mut broken = recorded(OLD);
        broken.source.text = "flow: poll\nsteps: [".into();
        let set = FlowSet::default().with_recorded(Arc::new(Recorded::new([broken.clone()])));
        assert!(set.version("poll", &broken.version).is_none());
    }
}
