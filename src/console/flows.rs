//! The flows section: every flow with its published version and check result, a flow's
//! history of versions (where each came from, who published it), a version's source with its
//! diagnostics at their lines and its message-cost table, and a line diff between two versions.
//! Read by admins, editors and analysts; editing is in [`super::editor`].

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::session::{Signed, gates};
use super::{ConsoleError, Layout, page};
use crate::auth::staff::Permission;
use crate::flow::Diagnostic;
use crate::flow::catalog::{Catalog, SourceFile};
use crate::flow::costs::{CostRow, cost_rows};
use crate::flow::diagnostics::source_lines;
use crate::http::AppState;
use crate::store::publications::Publication;

/// A diagnostic as the console lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Problem {
    /// `error` or `warning`.
    pub severity: &'static str,
    pub file: String,
    /// 1-based; 0 when the place is not known.
    pub line: u32,
    pub column: u32,
    pub message: String,
    pub hint: Option<String>,
    /// The report exactly as `civictext flows check` prints it.
    pub rendered: String,
}

impl Problem {
    /// `d` (found in `source`) as listed.
    pub fn new(d: &Diagnostic, source: &str) -> Problem {
        Problem {
            severity: if d.is_error() { "error" } else { "warning" },
            file: d.file.clone(),
            line: d.pos.line,
            column: d.pos.column,
            message: d.message.clone(),
            hint: d.hint.clone(),
            rendered: d.render(Some(source)),
        }
    }

    /// Where, as people read it: `line 12, column 5`.
    pub fn place(&self) -> String {
        if self.line == 0 {
            String::new()
        } else {
            format!("line {}, column {}", self.line, self.column)
        }
    }
}

/// How many errors and warnings, in words.
pub fn summary(problems: &[Problem]) -> String {
    let errors = problems.iter().filter(|p| p.severity == "error").count();
    let warnings = problems.len() - errors;
    match (errors, warnings) {
        (0, 0) => "No problems found.".into(),
        (e, w) => format!(
            "{e} error{}, {w} warning{}{}",
            if e == 1 { "" } else { "s" },
            if w == 1 { "" } else { "s" },
            if e > 0 {
                ": it cannot be published until the errors are fixed."
            } else {
                "."
            }
        ),
    }
}

/// One line of a source listing, with the problems found on it.
pub struct SourceLine {
    pub number: usize,
    pub text: String,
    pub problems: Vec<Problem>,
    /// `error`, `warning` or empty: the worst problem on the line.
    pub mark: &'static str,
}

/// `source` line by line, each with its problems.
pub fn listing(source: &str, problems: &[Problem]) -> Vec<SourceLine> {
    source_lines(source)
        .enumerate()
        .map(|(i, text)| {
            let number = i + 1;
            let here: Vec<Problem> = problems
                .iter()
                .filter(|p| p.line as usize == number)
                .cloned()
                .collect();
            let mark = if here.iter().any(|p| p.severity == "error") {
                "error"
            } else if here.is_empty() {
                ""
            } else {
                "warning"
            };
            SourceLine {
                number,
                text: text.to_string(),
                problems: here,
                mark,
            }
        })
        .collect()
}

/// The name a version is shown under: its file's name, without the directory it was read from
/// or the `published/` prefix of versions published by a person.
pub fn display_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// One flow in the list.
struct FlowRow {
    id: String,
    title: String,
    version: String,
    origin: String,
    by: String,
    at: String,
    errors: usize,
    warnings: usize,
}

#[derive(Template)]
#[template(path = "flows.html")]
struct FlowsPage {
    layout: Layout,
    flows: Vec<FlowRow>,
    /// Files of the flows directory that have errors now (each serves its last good version).
    directory: Vec<Problem>,
    may_edit: bool,
}

fn when(zone: &jiff::tz::TimeZone, p: &Publication) -> String {
    super::clock::minute(zone, p.published_at)
}

/// `GET /console/flows`: every published flow, its live version, where it came from and how
/// it checks beside the others.
pub async fn list(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Flows>,
) -> Result<Response, ConsoleError> {
    let published = state.gateway.store.published_flows().await?;
    let (catalog, checks) = Catalog::build(
        published
            .iter()
            .map(|(r, _)| r.source.clone())
            .collect::<Vec<SourceFile>>(),
    );
    let mut flows = Vec::new();
    for (recorded, publication) in &published {
        let check = checks
            .iter()
            .find(|c| c.name == recorded.source.name)
            .map(|c| c.diagnostics.as_slice())
            .unwrap_or_default();
        let errors = check.iter().filter(|d| d.is_error()).count();
        flows.push(FlowRow {
            id: recorded.flow_id.clone(),
            title: catalog
                .get(&recorded.flow_id)
                .map(|f| f.title.clone())
                .unwrap_or_default(),
            version: recorded.version.clone(),
            origin: publication.origin.label().to_string(),
            by: display_name(&publication.published_by).to_string(),
            at: when(&state.gateway.time_zone, publication),
            errors,
            warnings: check.len() - errors,
        });
    }
    flows.sort_by(|a, b| a.id.cmp(&b.id));
    let directory = state
        .gateway
        .flow_errors()
        .iter()
        .map(|d| Problem::new(d, ""))
        .collect();
    page(&FlowsPage {
        layout: Layout::new(&staff, "Flows", "flows"),
        flows,
        directory,
        may_edit: staff.may(Permission::EditFlows),
    })
}

struct HistoryRow {
    id: i64,
    version: Option<String>,
    origin: &'static str,
    by: String,
    at: String,
    note: String,
    served: bool,
    /// The version before it (for "changes").
    previous: Option<String>,
}

#[derive(Template)]
#[template(path = "flow_versions.html")]
struct VersionsPage {
    layout: Layout,
    flow: String,
    rows: Vec<HistoryRow>,
    /// Every distinct version, newest first, for the diff form.
    versions: Vec<String>,
    published: Option<String>,
    may_edit: bool,
}

/// `?published=VERSION` after publishing from the editor.
#[derive(Debug, Default, Deserialize)]
pub struct VersionsQuery {
    #[serde(default)]
    pub published: String,
}

/// `GET /console/flows/{flow}/versions`: the history, newest first.
pub async fn versions(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Flows>,
    Path(flow): Path<String>,
    Query(q): Query<VersionsQuery>,
) -> Result<Response, ConsoleError> {
    let history = state.gateway.store.flow_history(&flow).await?;
    if history.is_empty() {
        return Err(ConsoleError::NotFound(format!(
            "No flow `{flow}` has been published."
        )));
    }
    let last = history.len() - 1;
    let mut rows = Vec::new();
    let mut previous: Option<String> = None;
    for (i, p) in history.iter().enumerate() {
        rows.push(HistoryRow {
            id: p.id,
            version: p.version.clone(),
            origin: p.origin.label(),
            by: display_name(&p.published_by).to_string(),
            at: when(&state.gateway.time_zone, p),
            note: p.note.clone().unwrap_or_default(),
            served: i == last && p.version.is_some(),
            previous: previous.clone(),
        });
        if p.version.is_some() {
            previous = p.version.clone();
        }
    }
    rows.reverse();
    let mut versions: Vec<String> = Vec::new();
    for r in &rows {
        if let Some(v) = &r.version
            && !versions.contains(v)
        {
            versions.push(v.clone());
        }
    }
    page(&VersionsPage {
        layout: Layout::new(&staff, format!("Versions of {flow}"), "flows"),
        flow,
        rows,
        versions,
        published: (!q.published.is_empty()).then_some(q.published),
        may_edit: staff.may(Permission::EditFlows),
    })
}

#[derive(Template)]
#[template(path = "flow_source.html")]
struct SourcePage {
    layout: Layout,
    flow: String,
    version: String,
    file: String,
    lines: Vec<SourceLine>,
    problems: Vec<Problem>,
    summary: String,
    costs: Vec<CostRow>,
    may_edit: bool,
}

/// `GET /console/flows/{flow}/versions/{version}`: the source with line numbers, its problems
/// (as checked beside the flows published now) marked at their lines, and its cost table.
pub async fn source(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Flows>,
    Path((flow, version)): Path<(String, String)>,
) -> Result<Response, ConsoleError> {
    let store = &state.gateway.store;
    let Some(file) = store.flow_version(&flow, &version).await? else {
        return Err(ConsoleError::NotFound(format!(
            "`{flow}` has no version {version}."
        )));
    };
    let published = store.published_flows().await?;
    let name = display_name(&file.name).to_string();
    let text = file.text.clone();
    let flow_id = flow.clone();
    let (problems, costs) = tokio::task::spawn_blocking(move || {
        let checked = super::editor::check_draft(&published, &flow_id, &name, &text);
        let costs = checked
            .flow
            .as_ref()
            .map(|f| cost_rows(f.as_ref()))
            .unwrap_or_default();
        (checked.problems, costs)
    })
    .await
    .map_err(|e| ConsoleError::BadRequest(format!("the version could not be checked: {e}")))?;
    page(&SourcePage {
        layout: Layout::new(&staff, format!("{flow} version {version}"), "flows"),
        lines: listing(&file.text, &problems),
        summary: summary(&problems),
        flow,
        version,
        file: display_name(&file.name).to_string(),
        problems,
        costs,
        may_edit: staff.may(Permission::EditFlows),
    })
}

/// One line of a diff.
struct DiffLine {
    /// `-`, `+` or a space.
    sign: &'static str,
    /// `del`, `ins` or `same`.
    class: &'static str,
    old: Option<usize>,
    new: Option<usize>,
    text: String,
}

#[derive(Template)]
#[template(path = "flow_diff.html")]
struct DiffPage {
    layout: Layout,
    flow: String,
    versions: Vec<String>,
    from: String,
    to: String,
    /// Hunks of changed lines with a little context; empty when the versions are the same.
    hunks: Vec<Vec<DiffLine>>,
    added: usize,
    removed: usize,
}

/// `?from=VERSION&to=VERSION`.
#[derive(Debug, Default, Deserialize)]
pub struct DiffQuery {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
}

/// `GET /console/flows/{flow}/diff?from=A&to=B`: the lines that differ between two versions
/// (by default the one before the served version, and the served one).
pub async fn diff(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Flows>,
    Path(flow): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Result<Response, ConsoleError> {
    let store = &state.gateway.store;
    let history = store.flow_history(&flow).await?;
    let mut versions: Vec<String> = Vec::new();
    for p in history.iter().rev() {
        if let Some(v) = &p.version
            && !versions.contains(v)
        {
            versions.push(v.clone());
        }
    }
    if versions.is_empty() {
        return Err(ConsoleError::NotFound(format!(
            "No flow `{flow}` has been published."
        )));
    }
    let to = if q.to.is_empty() {
        versions[0].clone()
    } else {
        q.to
    };
    let from = if q.from.is_empty() {
        versions.get(1).unwrap_or(&versions[0]).clone()
    } else {
        q.from
    };
    let mut texts = Vec::new();
    for v in [&from, &to] {
        let Some(source) = store.flow_version(&flow, v).await? else {
            return Err(ConsoleError::NotFound(format!(
                "`{flow}` has no version {v}."
            )));
        };
        texts.push(source.text);
    }
    let diff = similar::TextDiff::from_lines(&texts[0], &texts[1]);
    let mut hunks = Vec::new();
    let (mut added, mut removed) = (0, 0);
    for group in diff.grouped_ops(3) {
        let mut hunk = Vec::new();
        for op in group {
            for change in diff.iter_changes(&op) {
                let (sign, class) = match change.tag() {
                    similar::ChangeTag::Delete => {
                        removed += 1;
                        ("-", "del")
                    }
                    similar::ChangeTag::Insert => {
                        added += 1;
                        ("+", "ins")
                    }
                    similar::ChangeTag::Equal => (" ", "same"),
                };
                hunk.push(DiffLine {
                    sign,
                    class,
                    old: change.old_index().map(|i| i + 1),
                    new: change.new_index().map(|i| i + 1),
                    text: change.value().trim_end_matches(['\n', '\r']).to_string(),
                });
            }
        }
        hunks.push(hunk);
    }
    page(&DiffPage {
        layout: Layout::new(&staff, format!("Changes to {flow}"), "flows"),
        flow,
        versions,
        from,
        to,
        hunks,
        added,
        removed,
    })
}
