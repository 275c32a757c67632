//! The one table of results every surface writes (`civictext export`, the API's CSV and
//! JSON): one row per session, fixed columns, then each question's normalised value and raw
//! text. Residents appear by pseudonym; their number only where it was asked for and allowed.

use std::fmt::Write as _;

use crate::csv_safe::Writer;
use crate::gateway::FlowSet;
use crate::privacy::Pseudonyms;
use crate::store::results::ResponseRow;

/// A CSV cell as written: spreadsheet-safe (see [`crate::csv_safe`]).
pub fn cell(text: &str) -> std::borrow::Cow<'_, str> {
    crate::csv_safe::cell(text)
}

/// The question columns of `flow`: the current version's questions in file order, then those
/// only older versions asked (so answers given to an older version still have a column).
pub fn questions(flows: &FlowSet, flow: &str) -> Vec<String> {
    let mut questions: Vec<String> = flows
        .catalog()
        .get(flow)
        .map(|f| f.questions().map(|q| q.id.clone()).collect())
        .unwrap_or_default();
    for (id, version) in flows.known_versions() {
        let Some(f) = (id == flow).then(|| flows.version(&id, &version)).flatten() else {
            continue;
        };
        for q in f.questions() {
            if !questions.contains(&q.id) {
                questions.push(q.id.clone());
            }
        }
    }
    questions
}

/// The CSV header for `questions`; `phone` follows `contact` when numbers are included.
/// Question ids are staff-written, so they go through [`cell`] too.
pub fn header(questions: &[String], include_phones: bool) -> Vec<String> {
    let mut header: Vec<String> = vec!["session_id".into(), "contact".into()];
    if include_phones {
        header.push("phone".into());
    }
    for c in [
        "flow_version",
        "language",
        "status",
        "started_at",
        "updated_at",
        "ended_at",
        "tracking_code",
    ] {
        header.push(c.into());
    }
    for q in questions {
        header.push(cell(q).into_owned());
        header.push(cell(&format!("{q}_raw")).into_owned());
    }
    header
}

/// Sessions as the CSV of `civictext export` and the API's `text/csv`: [`header`], then one
/// record per session, every cell spreadsheet-safe. Made once per download: it writes each
/// session straight into the CSV, field by field, since an export writes millions of them.
#[derive(Debug, Clone)]
pub struct CsvTable {
    questions: Vec<String>,
    pseudonyms: Pseudonyms,
    include_phones: bool,
}

impl CsvTable {
    /// The table of `questions` (see [`questions`]); residents by pseudonym, and by number too
    /// when `include_phones`.
    pub fn new(questions: Vec<String>, pseudonyms: Pseudonyms, include_phones: bool) -> Self {
        Self {
            questions,
            pseudonyms,
            include_phones,
        }
    }

    /// Writes the header record.
    pub fn write_header<W: std::io::Write>(&self, out: &mut Writer<W>) -> csv::Result<()> {
        out.write_record(header(&self.questions, self.include_phones))
    }

    /// Writes `row` as one record matching the header.
    pub fn write_row<W: std::io::Write>(
        &self,
        out: &mut Writer<W>,
        row: &ResponseRow,
    ) -> csv::Result<()> {
        let mut text = String::with_capacity(32);
        let mut field = |out: &mut Writer<W>, value: &dyn std::fmt::Display| {
            text.clear();
            write!(text, "{value}").expect("writing to a String cannot fail");
            out.write_field(&text)
        };
        field(out, &row.session_id)?;
        out.write_field(&self.pseudonyms.of(&row.phone))?;
        if self.include_phones {
            out.write_field(&row.phone)?;
        }
        out.write_field(&row.flow_version)?;
        out.write_field(&row.language)?;
        out.write_field(&row.status)?;
        field(out, &row.started_at)?;
        field(out, &row.updated_at)?;
        match &row.ended_at {
            Some(t) => field(out, t)?,
            None => out.write_field("")?,
        }
        out.write_field(row.tracking_code.as_deref().unwrap_or(""))?;
        for q in &self.questions {
            // One answer per question and session; were there two, the later one.
            let a = row.answers.iter().rev().find(|a| &a.question == q);
            out.write_field(a.map_or("", |a| a.value.as_str()))?;
            out.write_field(a.map_or("", |a| a.raw.as_str()))?;
        }
        out.end_record()
    }
}

/// One session as a JSON line of `civictext export --format jsonl`.
pub fn jsonl(
    row: &ResponseRow,
    questions: &[String],
    pseudonyms: &Pseudonyms,
    include_phones: bool,
) -> serde_json::Value {
    let answers: serde_json::Map<String, serde_json::Value> = row
        .answers
        .iter()
        .filter(|a| questions.contains(&a.question))
        .map(|a| {
            (
                a.question.clone(),
                serde_json::json!({"value": a.value, "raw": a.raw, "category": a.category}),
            )
        })
        .collect();
    let mut line = serde_json::json!({
        "session_id": row.session_id,
        "contact": pseudonyms.of(&row.phone),
        "flow_version": row.flow_version,
        "language": row.language,
        "status": row.status,
        "started_at": row.started_at.to_string(),
        "updated_at": row.updated_at.to_string(),
        "ended_at": row.ended_at.map(|t| t.to_string()),
        "tracking_code": row.tracking_code,
        "answers": answers,
    });
    if include_phones {
        line["phone"] = serde_json::Value::String(row.phone.clone());
    }
    line
}
