//! What the console's results page draws beyond [`super::results::SummaryCounts`]: sessions per
//! day, the language split, the keyword each conversation came in by, number answers for
//! histograms and the latest free-text answers.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::{Store, StoreError};

/// A flow's results for charts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowInsights {
    /// Sessions started per quarter hour (its first instant), oldest first: the console adds
    /// them up into days of the gateway's zone, which may be off UTC by a half or quarter hour.
    pub per_quarter_hour: Vec<(Timestamp, i64)>,
    /// Sessions per conversation language.
    pub languages: BTreeMap<String, i64>,
    /// Sessions per keyword text they started with (upper-cased and trimmed, as the resident
    /// typed it); None for sessions that did not start with a keyword (an invitation).
    pub keywords: BTreeMap<Option<String>, i64>,
    /// Per number question: (value as stored, answers).
    pub numbers: BTreeMap<String, Vec<(String, i64)>>,
    /// Per free-text question: its latest answers (what the resident texted, when), newest first.
    pub texts: BTreeMap<String, Vec<(String, Timestamp)>>,
}

/// Latest free-text answers shown per question.
pub const LATEST_TEXTS: i64 = 8;

impl Store {
    /// Chart data of `flow`: number answers of `number_questions`, the latest answers of
    /// `text_questions`.
    pub async fn flow_insights(
        &self,
        flow: &str,
        number_questions: &[String],
        text_questions: &[String],
    ) -> Result<FlowInsights, StoreError> {
        match self {
            Store::Sqlite(s) => {
                super::sqlite_insights::flow_insights(
                    s.pool(),
                    flow,
                    number_questions,
                    text_questions,
                )
                .await
            }
            Store::Postgres(s) => {
                super::postgres_insights::flow_insights(
                    s.pool(),
                    flow,
                    number_questions,
                    text_questions,
                )
                .await
            }
        }
    }
}
