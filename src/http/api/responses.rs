//! `/api/v1/responses`: one row per session, paged as JSON or streamed as CSV.

use std::sync::Arc;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::cursor;
use super::problem::Problem;
use crate::auth::Scope;
use crate::csv_safe::Writer;
use crate::http::AppState;
use crate::privacy::Pseudonyms;
use crate::store::results::{ResponseRow, ResultsFilter};

/// How a session stands.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Active,
    Completed,
    Expired,
    OptedOut,
    Interrupted,
}

impl SessionStatus {
    fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Active => "active",
            SessionStatus::Completed => "completed",
            SessionStatus::Expired => "expired",
            SessionStatus::OptedOut => "opted_out",
            SessionStatus::Interrupted => "interrupted",
        }
    }
}

/// Filters and paging of `/api/v1/responses`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResponsesQuery {
    /// Only this flow's sessions (required for CSV, whose columns are the flow's questions).
    pub flow: Option<String>,
    /// Only sessions in this status.
    pub status: Option<SessionStatus>,
    /// Only sessions started at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Only sessions started before this time (RFC 3339).
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^v1\.[0-9]{1,18}(\.[0-9]{1,18})?$")]
    pub cursor: Option<String>,
    /// Rows per page (JSON only), 1 to 1000; default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// One answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnswerItem {
    pub question: String,
    /// What the resident texted.
    pub raw: String,
    /// The normalised value.
    pub value: String,
    /// The answer's category: the choice key, `yes`/`no`, `skipped`, or the answer type.
    pub category: String,
    #[schema(format = DateTime)]
    pub answered_at: String,
}

/// One session of one resident.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResponseItem {
    pub session_id: i64,
    pub flow: String,
    pub flow_version: String,
    pub language: String,
    pub status: SessionStatus,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(format = DateTime)]
    pub ended_at: Option<String>,
    /// The resident's pseudonym: stable across sessions, not reversible without the
    /// installation's key.
    pub contact: String,
    /// The resident's phone number; only for tokens with the `results:pii` scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The tracking code of the service request the session filed.
    pub tracking_code: Option<String>,
    /// Answers in the order they were given.
    pub answers: Vec<AnswerItem>,
}

/// A page of sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResponsePage {
    pub data: Vec<ResponseItem>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn status_of(s: &str) -> SessionStatus {
    match s {
        "completed" => SessionStatus::Completed,
        "expired" => SessionStatus::Expired,
        "opted_out" => SessionStatus::OptedOut,
        "interrupted" => SessionStatus::Interrupted,
        _ => SessionStatus::Active,
    }
}

/// A stored session as the API shows it.
pub fn item(row: ResponseRow, pseudonyms: &Pseudonyms, pii: bool) -> ResponseItem {
    ResponseItem {
        session_id: row.session_id,
        contact: pseudonyms.of(&row.phone),
        phone: pii.then(|| row.phone.clone()),
        flow: row.flow_id,
        flow_version: row.flow_version,
        language: row.language,
        status: status_of(&row.status),
        started_at: row.started_at.to_string(),
        updated_at: row.updated_at.to_string(),
        ended_at: row.ended_at.map(|t| t.to_string()),
        tracking_code: row.tracking_code,
        answers: row
            .answers
            .into_iter()
            .map(|a| AnswerItem {
                question: a.question,
                raw: a.raw,
                value: a.value,
                category: a.category,
                answered_at: a.answered_at.to_string(),
            })
            .collect(),
    }
}

/// Parses an RFC 3339 query parameter.
pub fn instant(name: &str, value: Option<&str>) -> Result<Option<jiff::Timestamp>, Problem> {
    value
        .map(|v| {
            v.parse::<jiff::Timestamp>().map_err(|_| {
                Problem::bad_request(format!(
                    "`{name}` must be an RFC 3339 time such as 2026-03-01T00:00:00Z"
                ))
            })
        })
        .transpose()
}

fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|m| {
                m.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("text/csv")
            })
        })
}

/// Sessions with their answers, filtered by flow, time and status. JSON pages walk every
/// session exactly once even while residents keep texting; with `Accept: text/csv` every
/// matching session is streamed as one CSV (the columns of `civictext export`).
#[utoipa::path(
    get, path = "/api/v1/responses", tag = "results",
    params(ResponsesQuery),
    responses(
        (status = 200, description = "A page of sessions, or (Accept: text/csv) all of them as CSV",
         content((ResponsePage = "application/json"), (String = "text/csv"))),
        (status = 400, description = "A parameter is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `results` scope", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    query: Result<Query<ResponsesQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    caller.require(Scope::Results)?;
    let Query(q) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let filter = ResultsFilter {
        flow: q.flow.clone(),
        status: q.status.map(|s| s.as_str().to_string()),
        since: instant("since", q.since.as_deref())?,
        until: instant("until", q.until.as_deref())?,
    };
    let pii = caller.scopes.allows(Scope::ResultsPii);
    let store = state.gateway.store.clone();
    if wants_csv(&headers) {
        let Some(flow) = q.flow else {
            return Err(Problem::bad_request(
                "CSV needs `flow`: its columns are that flow's questions.",
            ));
        };
        return Ok(csv_download(&state, filter, &flow, pii));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::bad_request("`limit` must be between 1 and 1000."));
    }
    let after = q.cursor.as_deref().map(cursor::decode).transpose()?;
    let page = store
        .responses_page(&filter, after.as_deref(), limit)
        .await?
        .map_err(|_| cursor::invalid())?;
    Ok(axum::Json(ResponsePage {
        data: page
            .rows
            .into_iter()
            .map(|r| item(r, &state.pseudonyms, pii))
            .collect(),
        next_cursor: page.next.as_deref().map(cursor::encode),
    })
    .into_response())
}

/// Every session of `flow` matching `filter` as one CSV download (the columns of `civictext
/// export`), streamed page by page with flat memory. Phone numbers only with `pii`.
pub fn csv_download(state: &AppState, filter: ResultsFilter, flow: &str, pii: bool) -> Response {
    let store = state.gateway.store.clone();
    let table = Arc::new(crate::export::CsvTable::new(
        crate::export::questions(&state.gateway.flows(), flow),
        state.pseudonyms.clone(),
        pii,
    ));
    let mut head = Writer::new(Vec::new());
    let head = table
        .write_header(&mut head)
        .map_err(std::io::Error::other)
        .and_then(|()| head.into_inner())
        .map(Bytes::from);
    let rows = store.responses_stream(filter);
    // Rows already fetched go out together, in chunks of about 16 KiB: fewer, larger writes.
    // The channel bounds memory.
    let body = futures_util::stream::once(async move { head }).chain(futures_util::stream::unfold(
        rows,
        move |mut rows| {
            let table = table.clone();
            async move {
                let first = rows.recv().await?;
                let mut chunk = Writer::new(Vec::with_capacity(24 * 1024));
                let mut next = Some(first);
                while let Some(row) = next.take() {
                    let written = match row {
                        Ok(row) => table.write_row(&mut chunk, &row).map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    if let Err(e) = written {
                        tracing::error!(error = %e, "CSV stream failed");
                        return Some((Err(std::io::Error::other("the export failed")), rows));
                    }
                    if chunk.get_ref().len() < 16 * 1024 {
                        next = rows.try_recv().ok();
                    }
                }
                Some((chunk.into_inner().map(Bytes::from), rows))
            }
        },
    ));
    let body = Body::from_stream(body);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"responses.csv\"",
            ),
        ],
        body,
    )
        .into_response()
}

use futures_util::StreamExt as _;
