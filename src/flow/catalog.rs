//! A set of flows, checked together: ids and keywords must be unique across files.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::compile::compile;
use super::diagnostics::{Diagnostic, Report, Severity};
use super::engine::{self, Context, Inbound};
use super::model::{AnswerKind, Flow, StepKind};

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

    /// Warns where a question of an interruptible flow accepts another flow's keyword (a choice
    /// label or synonym, a number in range, any text at a free-text question): a resident who
    /// texts that keyword there is answering, and does not start the other flow.
    fn warn_answer_keywords(&self, checks: &mut [FileCheck]) {
        let empty = BTreeMap::new();
        let ctx = Context {
            // Any moment will do: whether a keyword is accepted does not depend on it.
            now: jiff::Timestamp::UNIX_EPOCH,
            today: jiff::civil::date(2026, 6, 1),
            contact: &empty,
            entropy: 0,
        };
        for flow in self.flows.iter().filter(|f| f.interruptible) {
            let Some(check) = checks.iter_mut().find(|c| c.name == flow.source) else {
                continue;
            };
            for (position, step) in flow.steps.iter().enumerate() {
                let StepKind::Ask(q) = &step.kind else {
                    continue;
                };
                let mut session = engine::start(flow, None, &ctx).session;
                session.position = position;
                session.pending_location = None;
                let mut taken: Vec<String> = Vec::new();
                for other in self.flows.iter().filter(|o| o.id != flow.id) {
                    let words: Vec<String> = other
                        .keywords
                        .iter()
                        .flat_map(|k| [k.word.clone(), k.spelled.clone()])
                        .filter(|w| {
                            let input = Inbound {
                                text: w,
                                media: &[],
                            };
                            engine::accepts(flow, &session, &input, &ctx)
                        })
                        .collect();
                    let mut words: Vec<String> =
                        words.into_iter().fold(Vec::new(), |mut seen, w| {
                            if !seen.contains(&w) {
                                seen.push(w);
                            }
                            seen
                        });
                    if !words.is_empty() {
                        let list = words
                            .drain(..)
                            .map(|w| format!("`{w}`"))
                            .collect::<Vec<_>>();
                        taken.push(format!("{} (flow `{}`)", list.join(", "), other.id));
                    }
                }
                if taken.is_empty() {
                    continue;
                }
                let hint = match q.kind {
                    AnswerKind::Choice(_) | AnswerKind::Language(_) => {
                        "rename the choice or synonym, or give the other flow another keyword"
                    }
                    _ => {
                        "expected for a question that takes any text: residents can text the keyword once they have answered; otherwise give the other flow a keyword this question does not accept"
                    }
                };
                check.diagnostics.push(Diagnostic {
                    severity: Severity::Warning,
                    file: flow.source.clone(),
                    pos: step.pos,
                    message: format!(
                        "`{}` takes {} as an answer: a resident who texts one while this question waits is answering it, and the other flow does not start",
                        q.id,
                        taken.join(" and ")
                    ),
                    hint: Some(hint.into()),
                });
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

    /// The flow whose keyword the text is *itself*: spelled as the keyword, give or take case,
    /// accents and punctuation around it ("Report!", "plan"), not a phrase that only folds into
    /// one ("Main St" is not `MAINST`, "bike lane!" is not `BIKELANE`). Only such a text may
    /// interrupt a conversation (see [`super::precedence`]).
    pub fn exact_keyword(&self, text: &str) -> Option<(&Arc<Flow>, Option<&str>)> {
        let word = crate::sms::fold::keyword(text);
        let (i, lang) = self.by_keyword.get(&word)?;
        let flow = &self.flows[*i];
        let spelled = crate::sms::fold::spelling(text);
        flow.keywords
            .iter()
            .any(|k| k.word == word && (spelled == k.word || spelled == k.spelled))
            .then_some((flow, lang.as_deref()))
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
