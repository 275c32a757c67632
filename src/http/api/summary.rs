//! `/api/v1/flows/{flow}/summary`: how a flow is doing.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::problem::Problem;
use crate::auth::Scope;
use crate::http::AppState;
use crate::store::results::SummaryCounts;

/// Counts for one flow.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowSummary {
    pub flow: String,
    /// Sessions started (every status).
    pub started: i64,
    /// Sessions still going.
    pub active: i64,
    pub completed: i64,
    pub expired: i64,
    pub opted_out: i64,
    /// Sessions left for another flow's keyword.
    pub interrupted: i64,
    /// completed / started, 0 when none started.
    pub completion_rate: f64,
    /// Sessions that ended unfinished before answering anything.
    pub dropped_before_first_answer: i64,
    /// Per question, current questions first in file order.
    pub questions: Vec<QuestionSummary>,
}

/// How one question was answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionSummary {
    pub question: String,
    /// Sessions that answered it.
    pub answered: i64,
    /// Answers per category (choice key, `yes`, `no`, `skipped`, …).
    pub categories: BTreeMap<String, i64>,
    /// Sessions that ended unfinished (expired, opted out, interrupted) right after answering
    /// this question: where residents drop off.
    pub dropped_after: i64,
}

/// The summary of `flow` from stored counts, questions in `order` first.
pub fn summarize(flow: &str, order: &[String], counts: &SummaryCounts) -> FlowSummary {
    let status = |s: &str| counts.statuses.get(s).copied().unwrap_or(0);
    let started: i64 = counts.statuses.values().sum();
    let mut questions: Vec<String> = order.to_vec();
    for (q, _) in counts.categories.keys() {
        if !questions.contains(q) {
            questions.push(q.clone());
        }
    }
    let completed = status("completed");
    FlowSummary {
        flow: flow.to_string(),
        started,
        active: status("active"),
        completed,
        expired: status("expired"),
        opted_out: status("opted_out"),
        interrupted: status("interrupted"),
        completion_rate: if started == 0 {
            0.0
        } else {
            completed as f64 / started as f64
        },
        dropped_before_first_answer: counts.dropped_after.get(&None).copied().unwrap_or(0),
        questions: questions
            .into_iter()
            .map(|q| {
                let categories: BTreeMap<String, i64> = counts
                    .categories
                    .iter()
                    .filter(|((question, _), _)| *question == q)
                    .map(|((_, c), n)| (c.clone(), *n))
                    .collect();
                QuestionSummary {
                    answered: categories.values().sum(),
                    dropped_after: counts
                        .dropped_after
                        .get(&Some(q.clone()))
                        .copied()
                        .unwrap_or(0),
                    categories,
                    question: q,
                }
            })
            .collect(),
    }
}

/// Sessions started, completed, expired and opted out; the completion rate; each question's
/// answers per category; and where residents drop off.
#[utoipa::path(
    get, path = "/api/v1/flows/{flow}/summary", tag = "results",
    params(("flow" = String, Path, description = "The flow's id")),
    responses(
        (status = 200, description = "The flow's summary", body = FlowSummary),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `results` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such flow", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn summary(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(flow): Path<String>,
) -> Result<Json<FlowSummary>, Problem> {
    caller.require(Scope::Results)?;
    let flows = state.gateway.flows();
    if !flows.known_versions().iter().any(|(id, _)| *id == flow) {
        return Err(Problem::not_found(format!("There is no flow {flow:?}.")));
    }
    let order = crate::export::questions(&flows, &flow);
    let counts = state.gateway.store.summary_counts(&flow).await?;
    Ok(Json(summarize(&flow, &order, &counts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_statuses_categories_and_drop_off() {
        let counts = SummaryCounts {
            statuses: BTreeMap::from([
                ("completed".to_string(), 3),
                ("expired".to_string(), 1),
                ("opted_out".to_string(), 1),
            ]),
            categories: BTreeMap::from([
                (("visits".to_string(), "weekly".to_string()), 3),
                (("visits".to_string(), "never".to_string()), 1),
                (("old".to_string(), "x".to_string()), 1),
            ]),
            dropped_after: BTreeMap::from([(None, 1), (Some("visits".to_string()), 1)]),
        };
        let s = summarize("parks", &["visits".into(), "rating".into()], &counts);
        assert_eq!(
            (s.started, s.completed, s.expired, s.opted_out),
            (5, 3, 1, 1)
        );
        assert!((s.completion_rate - 0.6).abs() < 1e-9);
        assert_eq!(s.dropped_before_first_answer, 1);
        let names: Vec<&str> = s.questions.iter().map(|q| q.question.as_str()).collect();
        assert_eq!(names, ["visits", "rating", "old"]);
        assert_eq!(s.questions[0].answered, 4);
        assert_eq!(s.questions[0].categories["never"], 1);
        assert_eq!(s.questions[0].dropped_after, 1);
        assert_eq!(s.questions[1].answered, 0);
    }

    #[test]
    fn a_flow_nobody_started_has_a_zero_completion_rate() {
        let s = summarize("x", &[], &SummaryCounts::default());
        assert_eq!(s.started, 0);
        assert_eq!(s.completion_rate, 0.0);
    }
}
