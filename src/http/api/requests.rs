//! `/api/v1/requests`: service requests residents filed by text.

use axum::extract::rejection::QueryRejection;
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
    pub status: String,
    #[schema(format = DateTime)]
    pub created_at: String,
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
        created_at: r.created_at.to_string(),
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
