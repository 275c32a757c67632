//! `civictext bench-results`: how fast results stream out of a large database, and in how much
//! memory. A database of completed youth-survey sessions (7 answers each) is filled by the
//! store's own prefill, then the same rows are read four ways in one run, each written to a sink:
//! a plain query over the answers (the floor), the CSV of `civictext export` and the API's
//! `text/csv` (one writer), the API's JSON items as a stream (as `civictext export --format
//! jsonl` reads them), and the API's JSON pages walked one after another, as a script does. Peak
//! resident memory is measured per phase (the kernel's high-water mark is reset before each).

use std::io::Write;
use std::time::Instant;

use serde::Serialize;

use crate::privacy::Pseudonyms;
use crate::store::Store;
use crate::store::results::ResultsFilter;

/// The flow the prefill writes.
pub const FLOW: &str = "youth-survey";

/// One way of reading the results, measured.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub name: &'static str,
    /// Sessions (response rows) written; for the plain query, answers read.
    pub rows: u64,
    pub answers: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub peak_rss_mb: Option<f64>,
}

impl Measured {
    /// Response rows (sessions) per second.
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.seconds
    }

    /// Answers per second.
    pub fn answers_per_second(&self) -> f64 {
        self.answers as f64 / self.seconds
    }
}

/// Resets the process's peak resident set (`VmHWM`), so the next phase's peak is its own.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak() -> Option<f64> {
    super::child::peak_rss_mb("/proc/self/status")
}

/// The plain query over every answer of the flow.
pub async fn baseline(store: &Store) -> anyhow::Result<Measured> {
    reset_peak();
    let started = Instant::now();
    let (rows, bytes) = store.scan_answers(FLOW).await?;
    Ok(Measured {
        name: "plain SELECT of the answers (floor)",
        rows,
        answers: rows,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        peak_rss_mb: peak(),
    })
}

/// A sink that only counts the bytes written to it.
struct Counting(u64);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How a response row is written.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// The CSV of `civictext export` and the API's `Accept: text/csv`.
    Csv,
    /// The API's JSON items.
    Json,
}

/// Every session of the flow streamed from the store and serialised as `shape`.
pub async fn stream(store: &Store, shape: Shape) -> anyhow::Result<Measured> {
    reset_peak();
    let pseudonyms = Pseudonyms::new("bench-key");
    let questions: Vec<String> = [
        "age",
        "zip",
        "getting-around",
        "safe-walking",
        "priority",
        "rating",
        "follow-up",
    ]
    .map(String::from)
    .to_vec();
    let started = Instant::now();
    let mut rx = store.responses_stream(ResultsFilter {
        flow: Some(FLOW.into()),
        ..ResultsFilter::default()
    });
    let (mut rows, mut answers) = (0u64, 0u64);
    // CSV as `civictext export` and the API's download write it; JSON items one per line.
    let (mut csv_bytes, mut json_bytes) = (Counting(0), Counting(0));
    let table = crate::export::CsvTable::new(questions, pseudonyms.clone(), false);
    let mut csv = crate::csv_safe::Writer::new(&mut csv_bytes);
    if let Shape::Csv = shape {
        table.write_header(&mut csv)?;
    }
    while let Some(row) = rx.recv().await {
        let row = row?;
        rows += 1;
        answers += row.answers.len() as u64;
        match shape {
            Shape::Csv => table.write_row(&mut csv, &row)?,
            Shape::Json => {
                let item = crate::http::api::responses::item(row, &pseudonyms, false);
                serde_json::to_writer(&mut json_bytes, &item)?;
                json_bytes.write_all(b"\n")?;
            }
        }
    }
    csv.flush()?;
    drop(csv);
    let bytes = csv_bytes.0 + json_bytes.0;
    Ok(Measured {
        name: match shape {
            Shape::Csv => "responses as CSV (export, API text/csv)",
            Shape::Json => "responses as JSON items (streamed)",
        },
        rows,
        answers,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        peak_rss_mb: peak(),
    })
}

/// Every session of the flow read as a script walking the API's JSON pages reads it: pages of
/// 1,000, each asked for only when the one before has arrived, serialised as the API's items.
pub async fn walk_pages(store: &Store) -> anyhow::Result<Measured> {
    reset_peak();
    let pseudonyms = Pseudonyms::new("bench-key");
    let filter = ResultsFilter {
        flow: Some(FLOW.into()),
        ..ResultsFilter::default()
    };
    let started = Instant::now();
    let (mut rows, mut answers) = (0u64, 0u64);
    let mut json_bytes = Counting(0);
    let mut after: Option<String> = None;
    loop {
        let page = store
            .responses_page(&filter, after.as_deref(), 1000)
            .await?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let items: Vec<_> = page
            .rows
            .into_iter()
            .inspect(|row| {
                rows += 1;
                answers += row.answers.len() as u64;
            })
            .map(|row| crate::http::api::responses::item(row, &pseudonyms, false))
            .collect();
        serde_json::to_writer(&mut json_bytes, &items)?;
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(Measured {
        name: "JSON pages of 1,000 walked (API cursor)",
        rows,
        answers,
        bytes: json_bytes.0,
        seconds: started.elapsed().as_secs_f64(),
        peak_rss_mb: peak(),
    })
}
