//! A set of flows, checked together: ids and keywords must be unique across files.

use std::collections::HashMap;
use std::sync::Arc;

use super::compile::compile;
use super::diagnostics::{Diagnostic, Report};
use super::model::Flow;

/// One flow file as read from disk.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name shown in diagnostics (a path relative to the flows directory).
    pub name: String,
    pub text: String,
}

/// The outcome of checking one file.
#[derive(Debug, Clone)]
pub struct FileCheck {
    pub name: String,
    pub text: String,
    pub diagnostics: Vec<Diagnostic>,
    /// The flow's id, when the file compiled.
    pub flow: Option<String>,
}

/// Every flow that compiled, indexed by id and keyword.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    flows: Vec<Arc<Flow>>,
    by_id: HashMap<String, usize>,
    /// Canonical keyword → (flow index, language the keyword selects).
    by_keyword: HashMap<String, (usize, Option<String>)>,
}

impl Catalog {
    /// Compiles `files` and checks them against each other. A file with errors is left out of the
    /// catalog; the others still load.
    pub fn build(files: Vec<SourceFile>) -> (Catalog, Vec<FileCheck>) {
        let mut catalog = Catalog::default();
        let mut checks = Vec::with_capacity(files.len());
        // Keyword owners: (flow id, file, line) for the "already used" message.
        let mut owners: HashMap<String, (String, String, u32)> = HashMap::new();
        for file in files {
            let compiled = compile(&file.name, &file.text);
            let mut report = compiled.report;
            let mut id = None;
            if let Some(flow) = compiled.flow {
                let ok = Self::cross_check(&catalog, &flow, &mut owners, &mut report);
                id = Some(flow.id.clone());
                if ok {
                    catalog.insert(flow);
                }
            }
            checks.push(FileCheck {
                name: file.name,
                text: file.text,
                diagnostics: report.items,
                flow: id,
            });
        }
        catalog.warn_answer_keywords(&mut checks);
        (catalog, checks)
    }

    /// Warns where a choice answer of an interruptible flow is another flow's keyword: a
    /// resident giving that answer would be moved to the other flow instead.
    fn warn_answer_keywords(&self, checks: &mut [FileCheck]) {
        for flow in self.flows.iter().filter(|f| f.interruptible) {
            let Some(check) = checks.iter_mut().find(|c| c.name == flow.source) else {
                continue;
            };
            for step in &flow.steps {
                let super::model::StepKind::Ask(q) = &step.kind else {
                    continue;
                };
                let super::model::AnswerKind::Choice(c) = &q.kind else {
                    continue;
                };
                let phrases = c
                    .labels
                    .iter()
                    .flat_map(|t| t.by_language.iter().map(|(_, tpl)| tpl.source()))
                    .chain(c.keys.iter().cloned());
                for phrase in phrases {
                    let word = crate::sms::fold::keyword(&phrase);
                    if let Some((i, _)) = self.by_keyword.get(&word)
                        && self.flows[*i].id != flow.id
                    {
                        check.diagnostics.push(Diagnostic {
                            severity: super::diagnostics::Severity::Warning,
                            file: flow.source.clone(),
                            pos: step.pos,
                            message: format!(
                                "the answer `{phrase}` to `{}` is also the keyword of flow `{}`: a resident replying with it is moved to that flow",
                                q.id, self.flows[*i].id
                            ),
                            hint: Some("rename the choice, change the other flow's keyword, or set `interruptible: false`".into()),
                        });
                    }
                }
            }
        }
    }

    fn cross_check(
        catalog: &Catalog,
        flow: &Flow,
        owners: &mut HashMap<String, (String, String, u32)>,
        report: &mut Report,
    ) -> bool {
        let mut ok = true;
        if let Some(&i) = catalog.by_id.get(&flow.id) {
            report.error(
                super::diagnostics::Pos { line: 1, column: 1 },
                format!(
                    "flow id `{}` is already used by {}",
                    flow.id, catalog.flows[i].source
                ),
                Some("give each flow its own `flow:` id".to_string()),
            );
            ok = false;
        }
        for k in &flow.keywords {
            if let Some((other, file, line)) = owners.get(&k.word) {
                report.error(
                    k.pos,
                    format!(
                        "keyword `{}` already starts flow `{other}` ({file}:{line})",
                        k.word
                    ),
                    Some("a keyword can start only one flow: choose another word".to_string()),
                );
                ok = false;
            }
        }
        if ok {
            for k in &flow.keywords {
                owners.insert(
                    k.word.clone(),
                    (flow.id.clone(), flow.source.clone(), k.pos.line),
                );
            }
        }
        ok
    }

    fn insert(&mut self, flow: Flow) {
        let i = self.flows.len();
        self.by_id.insert(flow.id.clone(), i);
        for k in &flow.keywords {
            self.by_keyword
                .insert(k.word.clone(), (i, k.language.clone()));
        }
        self.flows.push(Arc::new(flow));
    }

    /// The flow with this id.
    pub fn get(&self, id: &str) -> Option<&Arc<Flow>> {
        self.by_id.get(id).map(|&i| &self.flows[i])
    }

    /// The flow a text starts, and the language its keyword selects. The whole text must be the
    /// keyword ("Parks!" and " parks " match `PARKS`; "parks are great" does not).
    pub fn by_keyword(&self, text: &str) -> Option<(&Arc<Flow>, Option<&str>)> {
        let word = crate::sms::fold::keyword(text);
        self.by_keyword
            .get(&word)
            .map(|(i, lang)| (&self.flows[*i], lang.as_deref()))
    }

    /// Every flow, in load order.
    pub fn flows(&self) -> &[Arc<Flow>] {
        &self.flows
    }

    /// Every keyword residents can text, in load order of the flows.
    pub fn keywords(&self) -> Vec<&str> {
        self.flows
            .iter()
            .flat_map(|f| f.keywords.iter().map(|k| k.word.as_str()))
            .collect()
    }
}
