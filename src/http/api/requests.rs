//! `/api/v1/requests`: service requests residents filed by text.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::cursor;
use super::problem::Problem;
use super::responses::instant;
use crate::auth::Scope;
use crate::http::AppState;
use crate::store::results::{RequestFilter, RequestRow};
use crate::store::{RequestInfo, StatusChange, requests::is_valid_status};

/// Filters and paging of `/api/v1/requests`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestsQuery {
    /// Only this service code, e.g. `pothole`.
    pub service: Option<String>,
    /// Only requests in this status, e.g. `open`.
    pub status: Option<String>,
    /// Only requests filed at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub since: Option<String>,
    /// Only requests filed before this time (RFC 3339).
    #[param(format = DateTime)]
    pub until: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^v1\.[0-9]{1,18}(\.[0-9]{1,18})?$")]
    pub cursor: Option<String>,
    /// Rows per page, 1 to 1000; default 100.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// A service request.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestItem {
    /// The tracking code the resident was given.
    pub code: String,
    /// The flow that filed it.
    pub flow: String,
    /// The service code, e.g. `pothole`.
    pub service: String,
    pub description: Option<String>,
    /// Where, as the resident gave it.
    pub location: Option<String>,
    /// URL of the resident's photo.
    pub photo: Option<String>,
    /// `open` when filed, then whatever staff set (`in_progress`, `closed` ...).
    pub status: String,
    /// The latest note given with a status change, as the resident was told it.
    pub status_notes: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When the status last changed; null while it never has.
    #[schema(format = DateTime)]
    pub updated_at: Option<String>,
}

/// A page of service requests.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestPage {
    pub data: Vec<RequestItem>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn item(r: RequestRow) -> RequestItem {
    RequestItem {
        code: r.code,
        flow: r.flow_id,
        service: r.service,
        description: r.description,
        location: r.location,
        photo: r.photo,
        status: r.status,
        status_notes: r.status_notes,
        created_at: r.created_at.to_string(),
        updated_at: r.updated_at.map(|t| t.to_string()),
    }
}

fn from_info(r: RequestInfo) -> RequestItem {
    RequestItem {
        code: r.code,
        flow: r.flow_id,
        service: r.service,
        description: r.description,
        location: r.location,
        photo: r.photo,
        status: r.status,
        status_notes: r.status_notes,
        created_at: r.created_at.to_string(),
        updated_at: r.updated_at.map(|t| t.to_string()),
    }
}

/// Service requests, oldest first, filtered by service, status and time.
#[utoipa::path(
    get, path = "/api/v1/requests", tag = "requests",
    params(RequestsQuery),
    responses(
        (status = 200, description = "A page of service requests", body = RequestPage),
        (status = 400, description = "A parameter is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `requests` scope", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<RequestsQuery>, QueryRejection>,
) -> Result<Json<RequestPage>, Problem> {
    caller.require(Scope::Requests)?;
    let Query(q) = query.map_err(|e| Problem::bad_request(e.body_text()))?;
    let filter = RequestFilter {
        service: q.service,
        status: q.status,
        since: instant("since", q.since.as_deref())?,
        until: instant("until", q.until.as_deref())?,
        closed: None,
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Problem::bad_request("`limit` must be between 1 and 1000."));
    }
    let after = q.cursor.as_deref().map(cursor::decode).transpose()?;
    let page = state
        .gateway
        .store
        .requests_page(&filter, after.as_deref(), limit)
        .await?
        .map_err(|_| cursor::invalid())?;
    Ok(Json(RequestPage {
        data: page.rows.into_iter().map(item).collect(),
        next_cursor: page.next.as_deref().map(cursor::encode),
    }))
}

/// One service request by its tracking code.
#[utoipa::path(
    get, path = "/api/v1/requests/{code}", tag = "requests",
    params(("code" = String, Path, description = "The tracking code")),
    responses(
        (status = 200, description = "The service request", body = RequestItem),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `requests` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn one(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
) -> Result<Json<RequestItem>, Problem> {
    caller.require(Scope::Requests)?;
    state
        .gateway
        .store
        .request_by_code(&code)
        .await?
        .map(|r| Json(item(r)))
        .ok_or_else(|| Problem::not_found(format!("There is no service request {code:?}.")))
}

/// A status change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusUpdate {
    /// The new status: 1 to 32 lower-case letters, digits or `_`, e.g. `in_progress`, `closed`.
    #[schema(pattern = "^[a-z0-9_]{1,32}$", example = "closed")]
    pub status: String,
    /// A note for the resident (sent to them, and kept as the request's `status_notes`);
    /// omit it to keep the previous note. At most 480 characters.
    #[schema(max_length = 480)]
    pub note: Option<String>,
}

/// The request after a status change.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusUpdated {
    pub request: RequestItem,
    /// The status before this change.
    pub previous_status: String,
    /// True when a text telling the resident was queued (it goes outside their quiet hours,
    /// and not at all if they have opted out); false when nothing they would notice changed or
    /// nobody can be texted about this request.
    pub resident_notified: bool,
}

/// Longest note accepted: three SMS segments of plain text.
pub const MAX_NOTE_CHARS: usize = 480;

/// Changes a service request's status, with a note for the resident. The change is kept in
/// the request's history with the token's name, and the resident is texted about it.
#[utoipa::path(
    patch, path = "/api/v1/requests/{code}", tag = "requests",
    params(("code" = String, Path, description = "The tracking code")),
    request_body(content = StatusUpdate, content_type = "application/json"),
    responses(
        (status = 200, description = "The status was changed", body = StatusUpdated),
        (status = 400, description = "The body is invalid", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks the `requests:write` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
    body: Result<Json<StatusUpdate>, JsonRejection>,
) -> Result<Json<StatusUpdated>, Problem> {
    caller.require(Scope::RequestsWrite)?;
    let Json(body) = body.map_err(|e| match e {
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the change as `Content-Type: application/json`.",
        ),
        other => Problem::bad_request(other.body_text()),
    })?;
    if !is_valid_status(&body.status) {
        return Err(Problem::bad_request(
            "`status` must be 1 to 32 lower-case letters, digits or `_`, e.g. `closed`.",
        ));
    }
    let note = body.note.map(|n| n.trim().to_string());
    if note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
    {
        return Err(Problem::bad_request(format!(
            "`note` must be at most {MAX_NOTE_CHARS} characters."
        )));
    }
    let change = StatusChange {
        status: body.status,
        note: note.filter(|n| !n.is_empty()),
        changed_by: format!("token:{}", caller.token_name),
        at: jiff::Timestamp::now(),
    };
    let gateway = &state.gateway;
    let updated =
        crate::gateway::requests::change_status(&gateway.store, &gateway.replies, &code, &change)
            .await?
            .ok_or_else(|| Problem::not_found(format!("There is no service request {code:?}.")))?;
    Ok(Json(StatusUpdated {
        resident_notified: updated.follow_up.is_some(),
        previous_status: updated.old_status,
        request: from_info(updated.request),
    }))
}
