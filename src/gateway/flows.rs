//! The flows a gateway serves: the current catalog, plus every version a session may still be
//! running (a session finishes on the version it started with, even after an edit).

use std::collections::HashMap;
use std::sync::Arc;

use crate::flow::Flow;
use crate::flow::catalog::Catalog;

/// An immutable set of flows; a reload builds a new one and swaps it in.
#[derive(Debug, Default, Clone)]
pub struct FlowSet {
    current: Catalog,
    versions: HashMap<(String, String), Arc<Flow>>,
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
        FlowSet { current, versions }
    }

    /// The same older versions with a new current catalog.
    pub fn replace(&self, current: Catalog) -> FlowSet {
        FlowSet::new(current, self.versions.values().cloned())
    }

    /// The current catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.current
    }

    /// A specific version of a flow.
    pub fn version(&self, id: &str, version: &str) -> Option<Arc<Flow>> {
        self.versions
            .get(&(id.to_string(), version.to_string()))
            .cloned()
    }

    /// Every version known (current and older).
    pub fn all_versions(&self) -> impl Iterator<Item = &Arc<Flow>> {
        self.versions.values()
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
