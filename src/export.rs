//! The one table of results every surface writes (`civictext export`, the API's CSV and
//! JSON): one row per session, fixed columns, then each question's normalised value and raw
//! text. Residents appear by pseudonym; their number only where it was asked for and allowed.

use std::collections::BTreeMap;

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

/// One session as a CSV record matching [`header`].
pub fn record(
    row: &ResponseRow,
    questions: &[String],
    pseudonyms: &Pseudonyms,
    include_phones: bool,
) -> Vec<String> {
    let mut out = vec![row.session_id.to_string(), pseudonyms.of(&row.phone)];
    if include_phones {
        out.push(row.phone.clone());
    }
    out.extend([
        row.flow_version.clone(),
        row.language.clone(),
        row.status.clone(),
        row.started_at.to_string(),
        row.updated_at.to_string(),
        row.ended_at.map(|t| t.to_string()).unwrap_or_default(),
        row.tracking_code.clone().unwrap_or_default(),
    ]);
    let answers: BTreeMap<&str, _> = row
        .answers
        .iter()
        .map(|a| (a.question.as_str(), a))
        .collect();
    for q in questions {
        let a = answers.get(q.as_str());
        out.push(a.map(|a| a.value.clone()).unwrap_or_default());
        out.push(a.map(|a| a.raw.clone()).unwrap_or_default());
    }
    out.into_iter().map(|c| cell(&c).into_owned()).collect()
}

/// Writes `record`s as RFC 4180 CSV (CRLF) into a byte buffer.
pub fn csv_line(fields: &[String]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(fields)
        .expect("writing to memory cannot fail");
    w.into_inner().expect("writing to memory cannot fail")
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
