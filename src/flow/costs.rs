//! What each message of a flow costs to send: its encoding (GSM-7 or UCS-2), characters and
//! segments, per language — the table `flows check --costs` prints and the console shows.

use super::compile::{StepText, flow_texts, step_texts_with_role};
use super::model::Flow;
use crate::sms::segments::{self, Encoding};

/// One message of a flow, in one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostRow {
    /// The line of the step (or flow setting) the text belongs to.
    pub line: u32,
    pub language: String,
    /// `GSM-7` or `UCS-2`.
    pub encoding: &'static str,
    pub characters: usize,
    pub segments: u32,
    /// Why the text costs what it does: a retry or reminder text, the characters that force
    /// UCS-2, inserted values that add to it.
    pub note: String,
}

/// Every message of `flow`, step by step, then the flow's own texts (reminders, closing text).
pub fn cost_rows(flow: &Flow) -> Vec<CostRow> {
    let in_steps = flow.steps.iter().flat_map(|step| {
        step_texts_with_role(step)
            .into_iter()
            .map(|t| (step.pos, t))
    });
    in_steps
        .chain(flow_texts(flow))
        .map(|(at, t)| row(at.line, t))
        .collect()
}

fn row(line: u32, t: StepText) -> CostRow {
    let c = segments::count(&t.text);
    let mut notes: Vec<String> = Vec::new();
    let mut first = String::new();
    if t.retry {
        first.push_str("retry text");
    }
    if t.reminder {
        first.push_str("sent on its own (reminder or closing text)");
    }
    if !first.is_empty() {
        notes.push(first);
    }
    if c.encoding == Encoding::Ucs2 {
        let shown: Vec<String> = c
            .non_gsm
            .iter()
            .take(5)
            .map(|ch| format!("{ch:?} U+{:04X}", *ch as u32))
            .collect();
        notes.push(format!("UCS-2 because of {}", shown.join(", ")));
    }
    if t.text.contains("{{") {
        notes.push("plus inserted values".into());
    }
    CostRow {
        line,
        language: t.language,
        encoding: c.encoding.as_str(),
        characters: c.characters,
        segments: c.segments,
        note: notes.join("; "),
    }
}
