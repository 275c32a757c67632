//! The service-request queue for caseworkers: filters by type, status and age; a request's
//! detail (answers, address, photo link, the conversation, its status history); a status change
//! with a note, which the resident reads by texting the code and is texted about.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::session::{Signed, gates};
use super::{ConsoleError, Layout, audit, page, see_other};
use crate::gateway::Gateway;
use crate::http::AppState;
use crate::store::casework::RequestConversation;
use crate::store::results::{RequestFilter, RequestRow};
use crate::store::{RequestInfo, StatusChange, StatusHistoryEntry};

/// The statuses offered in forms (the store accepts any status word).
pub const STATUSES: [&str; 3] = ["open", "in_progress", "closed"];

/// Filters of the queue.
#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub status: String,
    /// Only requests at least this many days old.
    #[serde(default)]
    pub older_than: String,
    pub after: Option<String>,
}

impl QueueQuery {
    fn query(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("service", &self.service)
            .append_pair("status", &self.status)
            .append_pair("older_than", &self.older_than)
            .finish()
    }
}

/// One request in the queue.
pub struct QueueRow {
    pub code: String,
    pub service: String,
    pub status: String,
    pub location: String,
    pub filed: String,
    pub age_days: i64,
}

#[derive(Template)]
#[template(path = "requests.html")]
struct QueuePage {
    layout: Layout,
    q: QueueQuery,
    statuses: Vec<&'static str>,
    rows: Vec<QueueRow>,
    next: Option<String>,
    query: String,
}

/// Rows per page of the queue.
const PAGE_ROWS: i64 = 50;

fn row(r: RequestRow, now: jiff::Timestamp, zone: &jiff::tz::TimeZone) -> QueueRow {
    QueueRow {
        age_days: (now.as_second() - r.created_at.as_second()).max(0) / 86_400,
        filed: super::clock::minute(zone, r.created_at),
        code: r.code,
        service: r.service,
        status: r.status,
        location: r.location.unwrap_or_default(),
    }
}

/// `GET /console/requests`.
pub async fn queue(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Requests>,
    Query(q): Query<QueueQuery>,
) -> Result<Response, ConsoleError> {
    let now = Gateway::now();
    let older: Option<i64> = match q.older_than.trim() {
        "" => None,
        v => Some(
            v.parse::<i64>()
                .ok()
                .filter(|d| (0..=3650).contains(d))
                .ok_or_else(|| ConsoleError::BadRequest("Age must be a number of days.".into()))?,
        ),
    };
    let filter = RequestFilter {
        service: Some(q.service.trim().to_string()).filter(|s| !s.is_empty()),
        status: Some(q.status.trim().to_string()).filter(|s| !s.is_empty()),
        since: None,
        until: older.map(|d| now - jiff::SignedDuration::from_hours(24 * d)),
        closed: None,
    };
    let found = state
        .gateway
        .store
        .requests_page(&filter, q.after.as_deref(), PAGE_ROWS)
        .await?
        .map_err(|_| ConsoleError::BadRequest("That page position is not valid.".into()))?;
    page(&QueuePage {
        layout: Layout::new(&staff, "Service requests", "requests"),
        statuses: STATUSES.to_vec(),
        rows: found
            .rows
            .into_iter()
            .map(|r| row(r, now, &state.gateway.time_zone))
            .collect(),
        next: found.next,
        query: q.query(),
        q,
    })
}

#[derive(Template)]
#[template(path = "request.html")]
struct DetailPage {
    layout: Layout,
    r: RequestInfo,
    filed: String,
    /// The gateway's zone, in which the texts' and changes' times are shown.
    zone: jiff::tz::TimeZone,
    conversation: RequestConversation,
    history: Vec<StatusHistoryEntry>,
    statuses: Vec<&'static str>,
    notice: Option<String>,
    /// A photo link safe to put in an `href` (http or https only).
    photo: Option<String>,
}

/// Query of the detail page.
#[derive(Debug, Default, Deserialize)]
pub struct DetailQuery {
    pub changed: Option<String>,
}

/// `GET /console/requests/{code}`.
pub async fn detail(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Requests>,
    Path(code): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, ConsoleError> {
    let store = &state.gateway.store;
    let Some(r) = store.service_request(&code).await? else {
        return Err(ConsoleError::NotFound(format!(
            "There is no request {code}."
        )));
    };
    let conversation = store.request_conversation(&r.code).await?;
    let history = store.request_history(&r.code).await?;
    let photo = r
        .photo
        .clone()
        .filter(|p| p.starts_with("https://") || p.starts_with("http://"));
    page(&DetailPage {
        layout: Layout::new(&staff, format!("Request {}", r.code), "requests"),
        filed: super::clock::minute(&state.gateway.time_zone, r.created_at),
        zone: state.gateway.time_zone.clone(),
        conversation,
        history,
        statuses: STATUSES.to_vec(),
        notice: q
            .changed
            .map(|_| "Status changed. The resident will be texted about it.".to_string()),
        photo,
        r,
    })
}

/// The status-change form.
#[derive(Deserialize)]
pub struct StatusForm {
    pub status: String,
    #[serde(default)]
    pub note: String,
}

/// `POST /console/requests/{code}`: changes the status through the same function as the API
/// and the command line, which queues the resident's text in the same transaction.
pub async fn change_status(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Requests>,
    Path(code): Path<String>,
    Form(form): Form<StatusForm>,
) -> Result<Response, ConsoleError> {
    let status = form.status.trim().to_string();
    if !crate::store::requests::is_valid_status(&status) {
        return Err(ConsoleError::BadRequest("Choose a status.".into()));
    }
    let note = form.note.trim();
    if note.chars().count() > 500 {
        return Err(ConsoleError::BadRequest(
            "A note may have at most 500 characters.".into(),
        ));
    }
    let change = StatusChange {
        status: status.clone(),
        note: (!note.is_empty()).then(|| note.to_string()),
        changed_by: staff.email.clone(),
        at: Gateway::now(),
    };
    let Some(updated) = crate::gateway::requests::change_status(
        &state.gateway.store,
        &state.gateway.replies,
        &code,
        &change,
    )
    .await?
    else {
        return Err(ConsoleError::NotFound(format!(
            "There is no request {code}."
        )));
    };
    audit(
        &state,
        &staff,
        "request_status",
        &format!(
            "changed request {} from {} to {status}{}",
            updated.request.code,
            updated.old_status,
            if note.is_empty() {
                String::new()
            } else {
                format!(" with note: {note}")
            }
        ),
    )
    .await?;
    Ok(see_other(&format!(
        "/console/requests/{}?changed=1",
        updated.request.code
    )))
}
