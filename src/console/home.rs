//! The dashboard: every flow with its headline numbers, for the roles that read results.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::session::Staff;
use super::{ConsoleError, Layout, page};
use crate::auth::staff::Permission;
use crate::http::AppState;
use crate::http::api::summary::summarize;

/// One flow's headline numbers.
pub struct FlowLine {
    pub id: String,
    pub title: String,
    pub keywords: String,
    pub started: i64,
    pub completed: i64,
    pub active: i64,
    /// Completion rate, as a whole percentage.
    pub rate: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    layout: Layout,
    flows: Vec<FlowLine>,
    show_results: bool,
    show_requests: bool,
    open_requests: i64,
    /// When the counts shown were taken, if they are a snapshot.
    counted_at: Option<String>,
}

/// A completion rate as people read it: `60%`, `—` when nobody started.
pub fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        "—".into()
    } else {
        format!("{:.0}%", part as f64 * 100.0 / whole as f64)
    }
}

/// `GET /console`.
pub async fn dashboard(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Response, ConsoleError> {
    let store = &state.gateway.store;
    let mut flows = Vec::new();
    let mut counted_at = None;
    if staff.may(Permission::Results) {
        let set = state.gateway.flows();
        for f in set.catalog().flows() {
            let order = crate::export::questions(&set, &f.id);
            let counts = state.console.summary_counts(store, &f.id).await?;
            if let Some(at) = counts.snapshot_of {
                counted_at = Some(counted_at.map_or(at, |c: jiff::Timestamp| c.min(at)));
            }
            let s = summarize(&f.id, &order, &counts.value);
            flows.push(FlowLine {
                id: f.id.clone(),
                title: f.title.clone(),
                keywords: f
                    .keywords
                    .iter()
                    .map(|k| k.word.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                started: s.started,
                completed: s.completed,
                active: s.active,
                rate: percent(s.completed, s.started),
            });
        }
    }
    let mut open_requests = 0;
    if staff.may(Permission::Requests) {
        open_requests = store.count_requests("open").await?;
    }
    page(&Dashboard {
        layout: Layout::new(&staff, "Dashboard", "home"),
        flows,
        show_results: staff.may(Permission::Results),
        show_requests: staff.may(Permission::Requests),
        open_requests,
        counted_at: counted_at
            .map(|at| crate::console::snapshots::describe(&state.gateway.time_zone, at)),
    })
}
