//! `/api/v1/flows`: the flows served, with every version still known and its questions.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Caller;
use super::problem::Problem;
use crate::auth::Scope;
use crate::flow::Flow;
use crate::flow::model::AnswerKind;
use crate::http::AppState;

/// A flow and its versions.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowItem {
    /// The flow's id (`flow:` in its file), e.g. `youth-survey`.
    pub id: String,
    pub title: String,
    /// The version being served to new conversations; null if the flow was removed.
    pub current_version: Option<String>,
    /// Every known version, the current one first.
    pub versions: Vec<FlowVersion>,
}

/// One version of a flow (a digest of its file).
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowVersion {
    pub version: String,
    pub current: bool,
    /// Declared languages; the first is the default.
    pub languages: Vec<String>,
    /// Questions in file order.
    pub questions: Vec<QuestionItem>,
}

/// A question of a flow.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuestionItem {
    pub id: String,
    /// The answer type: choice, yes_no, number, integer, text, pattern, date, phone, email,
    /// photo, location, language.
    #[serde(rename = "type")]
    pub kind: String,
    /// The question's text in the flow's default language.
    pub text: String,
    /// For choice and language questions, the choice keys (the answers' categories).
    pub choices: Vec<String>,
}

/// The list of flows.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowList {
    pub data: Vec<FlowItem>,
}

fn version(flow: &Flow, current: bool) -> FlowVersion {
    FlowVersion {
        version: flow.version.clone(),
        current,
        languages: flow.languages.clone(),
        questions: flow
            .questions()
            .map(|q| QuestionItem {
                id: q.id.clone(),
                kind: q.kind.name().into(),
                text: q.text.get(flow.default_language()).source(),
                choices: match &q.kind {
                    AnswerKind::Choice(c) | AnswerKind::Language(c) => c.keys.clone(),
                    _ => Vec::new(),
                },
            })
            .collect(),
    }
}

fn flow_items(state: &AppState) -> Vec<FlowItem> {
    let flows = state.gateway.flows();
    let ids: Vec<Arc<Flow>> = flows
        .known_versions()
        .into_iter()
        .filter_map(|(id, v)| flows.version(&id, &v))
        .collect();
    let mut items: Vec<FlowItem> = Vec::new();
    for f in &ids {
        let current = flows.catalog().get(&f.id);
        let is_current = current.is_some_and(|c| c.version == f.version);
        let item = match items.iter_mut().find(|i| i.id == f.id) {
            Some(item) => item,
            None => {
                items.push(FlowItem {
                    id: f.id.clone(),
                    title: current.map_or_else(|| f.title.clone(), |c| c.title.clone()),
                    current_version: current.map(|c| c.version.clone()),
                    versions: Vec::new(),
                });
                items.last_mut().expect("just pushed")
            }
        };
        if is_current {
            item.versions.insert(0, version(f, true));
        } else {
            item.versions.push(version(f, false));
        }
    }
    items
}

/// Every flow, with its versions and questions.
#[utoipa::path(
    get, path = "/api/v1/flows", tag = "results",
    responses(
        (status = 200, description = "The flows", body = FlowList),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `results` scope", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<FlowList>, Problem> {
    caller.require(Scope::Results)?;
    Ok(Json(FlowList {
        data: flow_items(&state),
    }))
}

/// One flow, with its versions and questions.
#[utoipa::path(
    get, path = "/api/v1/flows/{flow}", tag = "results",
    params(("flow" = String, Path, description = "The flow's id")),
    responses(
        (status = 200, description = "The flow", body = FlowItem),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `results` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such flow", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(flow): Path<String>,
) -> Result<Json<FlowItem>, Problem> {
    caller.require(Scope::Results)?;
    flow_items(&state)
        .into_iter()
        .find(|f| f.id == flow)
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("There is no flow {flow:?}.")))
}
