//! The service types residents can report, as Open311 lists them: every service code a served
//! flow's `file_request` steps can file, and as its attributes the questions whose answers
//! fill the request.

use std::sync::Arc;

use super::format::Node;
use crate::flow::catalog::Catalog;
use crate::flow::model::{AnswerKind, Flow, Question, StepKind};
use crate::flow::template::Var;

/// One service type.
#[derive(Debug, Clone)]
pub struct Service {
    pub code: String,
    /// Its label in the flow's default language, else the code.
    pub name: String,
    /// The flow that files it.
    pub flow: Arc<Flow>,
    pub attributes: Vec<Attribute>,
}

/// Which standard Open311 field a flow's question fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fills {
    /// `address_string` (or `lat`/`long`).
    Address,
    /// `media_url`.
    Media,
    /// `description`.
    Description,
}

/// A question of the flow that a request of this service carries the answer of.
#[derive(Debug, Clone)]
pub struct Attribute {
    pub code: String,
    /// Open311 datatype: string, number, datetime, text, singlevaluelist.
    pub datatype: &'static str,
    /// Always asked and never skippable in the conversation.
    pub required: bool,
    pub description: String,
    /// (key, name) of a list.
    pub values: Vec<(String, String)>,
    pub fills: Option<Fills>,
}

/// The question ids a template inserts.
fn answers_in(t: &crate::flow::template::Template) -> Vec<String> {
    t.vars()
        .filter_map(|v| match v {
            Var::Answer(id) | Var::AnswerValue(id) => Some(id.clone()),
            _ => None,
        })
        .collect()
}

fn attribute(flow: &Flow, q: &Question, fills: Option<Fills>) -> Attribute {
    let lang = flow.default_language();
    let (datatype, values) = match &q.kind {
        AnswerKind::Choice(c) | AnswerKind::Language(c) => (
            "singlevaluelist",
            c.keys
                .iter()
                .zip(&c.labels)
                .map(|(k, l)| (k.clone(), l.get(lang).render(|_| None)))
                .collect(),
        ),
        AnswerKind::YesNo => (
            "singlevaluelist",
            vec![("yes".into(), "Yes".into()), ("no".into(), "No".into())],
        ),
        AnswerKind::Number { .. } => ("number", Vec::new()),
        AnswerKind::Date => ("datetime", Vec::new()),
        AnswerKind::Text { max, .. } if max.is_none_or(|m| m > 100) => ("text", Vec::new()),
        _ => ("string", Vec::new()),
    };
    // A question asked only in some cases (`when:`) is not required of every request.
    let conditional = flow
        .questions
        .get(&q.id)
        .is_some_and(|&i| flow.steps[i].when.is_some());
    Attribute {
        code: q.id.clone(),
        datatype,
        required: !q.optional && !conditional,
        description: q.text.get(lang).render(|_| None),
        values,
        fills,
    }
}

/// Every service the flows in `catalog` can file, in catalog order; the first flow to file a
/// code defines it.
pub fn services(catalog: &Catalog) -> Vec<Service> {
    let mut out: Vec<Service> = Vec::new();
    for flow in catalog.flows() {
        let codes = flow.services();
        if codes.is_empty() {
            continue;
        }
        // The questions whose answers the request carries, in the order they are asked.
        let mut filled: Vec<(String, Option<Fills>)> = Vec::new();
        let mut selectors: Vec<String> = Vec::new();
        for step in &flow.steps {
            let StepKind::FileRequest(spec) = &step.kind else {
                continue;
            };
            if let Some(Var::AnswerValue(id) | Var::Answer(id)) = spec.service.only_var() {
                selectors.push(id.clone());
            }
            for (template, fills) in [
                (&spec.location, Fills::Address),
                (&spec.photo, Fills::Media),
                (&spec.description, Fills::Description),
            ] {
                for id in template.iter().flat_map(answers_in) {
                    if !filled.iter().any(|(f, _)| *f == id) {
                        filled.push((id, Some(fills)));
                    }
                }
            }
        }
        let attributes: Vec<Attribute> = flow
            .questions()
            .filter(|q| !selectors.contains(&q.id))
            .filter_map(|q| {
                let fills = filled.iter().find(|(id, _)| *id == q.id)?.1;
                Some(attribute(flow, q, fills))
            })
            .collect();
        for (code, label) in codes {
            if out.iter().any(|s| s.code == code) {
                continue;
            }
            out.push(Service {
                name: label.unwrap_or_else(|| code.clone()),
                code,
                flow: flow.clone(),
                attributes: attributes.clone(),
            });
        }
    }
    out
}

impl Service {
    /// Its entry in `services.json`.
    pub fn summary(&self) -> Node {
        let keywords: Vec<&str> = self.flow.keywords.iter().map(|k| k.word.as_str()).collect();
        Node::Object(vec![
            ("service_code", Node::Text(self.code.clone())),
            ("service_name", Node::Text(self.name.clone())),
            (
                "description",
                Node::Text(format!(
                    "{} (by text: {})",
                    self.flow.title,
                    keywords.join(", ")
                )),
            ),
            ("metadata", Node::Bool(!self.attributes.is_empty())),
            ("type", Node::Text("realtime".into())),
            ("keywords", Node::Text(keywords.join(","))),
            ("group", Node::Text(self.flow.title.clone())),
        ])
    }

    /// Its `services/{code}.json` definition.
    pub fn definition(&self) -> Node {
        let attributes = self
            .attributes
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let sent_as = match a.fills {
                    Some(Fills::Address) => " Also accepted as address_string.",
                    Some(Fills::Media) => " Also accepted as media_url.",
                    Some(Fills::Description) => " Also accepted as description.",
                    None => "",
                };
                Node::Object(vec![
                    ("variable", Node::Bool(true)),
                    ("code", Node::Text(a.code.clone())),
                    ("datatype", Node::Text(a.datatype.into())),
                    ("required", Node::Bool(a.required)),
                    (
                        "datatype_description",
                        Node::Text(format!("The answer to this question.{sent_as}")),
                    ),
                    ("order", Node::Int(i as i64 + 1)),
                    ("description", Node::Text(a.description.clone())),
                    (
                        "values",
                        Node::List(
                            "value",
                            a.values
                                .iter()
                                .map(|(k, n)| {
                                    Node::Object(vec![
                                        ("key", Node::Text(k.clone())),
                                        ("name", Node::Text(n.clone())),
                                    ])
                                })
                                .collect(),
                        ),
                    ),
                ])
            })
            .collect();
        Node::Object(vec![
            ("service_code", Node::Text(self.code.clone())),
            ("attributes", Node::List("attribute", attributes)),
        ])
    }
}
