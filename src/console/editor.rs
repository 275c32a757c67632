//! The flow editor: a draft is checked with the same compiler and hints as `civictext flows
//! check`, beside every other published flow (as it would be served); its conversation tests
//! run against it; it is published (origin `console`, by the staff member, audited) only when
//! it has no errors, and every replica then serves it. Conversations already under way finish
//! on the version they started on.
//!
//! Without JavaScript the page is a textarea and buttons posting the form; with it, the
//! textarea becomes a CodeMirror editor (`assets/editor.js`, built from `console-editor/`) that
//! asks [`check`] as the clerk types and marks each problem at its line.

use std::path::Path as FsPath;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;

use super::flows::{Problem, display_name, summary};
use super::session::{Signed, Staff, gates};
use super::{ConsoleError, Layout, audit, page, see_other};
use crate::flow::Diagnostic;
use crate::flow::catalog::{Catalog, SourceFile};
use crate::flow::conversation_test;
use crate::flow::diagnostics::{Pos, Severity, source_lines};
use crate::flow::model::Flow;
use crate::http::AppState;
use crate::store::RecordedFlow;
use crate::store::publications::{NewPublication, Origin, Publication};

/// Largest draft accepted, in bytes: well above any real flow (the shipped ones are under
/// 10 KB), and small enough that a form carrying it fits the console's request limit.
pub const MAX_DRAFT_BYTES: usize = 48 * 1024;

/// A draft as checked beside the published flows.
#[derive(Debug)]
pub struct Checked {
    /// Every problem, as `flows check` reports it.
    pub problems: Vec<Problem>,
    /// The compiled flow, when the draft has no errors.
    pub flow: Option<Arc<Flow>>,
    /// The published flows with the draft in place of the flow it edits.
    pub catalog: Catalog,
}

impl Checked {
    /// How many problems are errors.
    pub fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == "error")
            .count()
    }
}

fn error(file: &str, pos: Pos, message: String, hint: &str) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        file: file.to_string(),
        pos,
        message,
        hint: Some(hint.to_string()),
    }
}

/// Checks `text` (shown as file `name`) as the new version of `flow_id`, beside every other
/// flow in `published`: the same compiler, diagnostics and hints as `civictext flows check`
/// and `civictext flows publish`, plus "this draft is another flow" when its `flow:` line
/// names a different id.
pub fn check_draft(
    published: &[(RecordedFlow, Publication)],
    flow_id: &str,
    name: &str,
    text: &str,
) -> Checked {
    if text.len() > MAX_DRAFT_BYTES {
        let d = error(
            name,
            Pos::default(),
            format!(
                "this draft is {} KB; a flow may be at most {} KB",
                text.len().div_ceil(1024),
                MAX_DRAFT_BYTES / 1024
            ),
            "split it into smaller flows, or shorten its texts",
        );
        return Checked {
            problems: vec![Problem::new(&d, text)],
            flow: None,
            catalog: Catalog::default(),
        };
    }
    let compiled = crate::flow::compile(name, text);
    let draft_id = compiled.flow.as_ref().map(|f| f.id.clone());
    let mut sources: Vec<SourceFile> = published
        .iter()
        .filter(|(r, _)| r.flow_id != flow_id && Some(&r.flow_id) != draft_id.as_ref())
        .map(|(r, _)| r.source.clone())
        .collect();
    sources.push(SourceFile {
        name: name.to_string(),
        text: text.to_string(),
    });
    let (catalog, checks) = Catalog::build(sources);
    let mut diagnostics = checks
        .into_iter()
        .rev()
        .find(|c| c.name == name)
        .map(|c| c.diagnostics)
        .unwrap_or_default();
    if let Some(other) = draft_id.as_deref().filter(|id| *id != flow_id) {
        let line = source_lines(text)
            .position(|l| l.starts_with("flow:"))
            .map_or(0, |i| i as u32 + 1);
        diagnostics.insert(
            0,
            error(
                name,
                Pos { line, column: 1 },
                format!("this draft is the flow `{other}`, but this page edits `{flow_id}`"),
                &format!(
                    "change this line back to `flow: {flow_id}`, or start a new flow from the \
                     Flows page to make `{other}`"
                ),
            ),
        );
    }
    let problems: Vec<Problem> = diagnostics.iter().map(|d| Problem::new(d, text)).collect();
    let ok = !problems.iter().any(|p| p.severity == "error");
    Checked {
        flow: catalog.get(flow_id).filter(|_| ok).cloned(),
        problems,
        catalog,
    }
}

/// A flow's conversation tests, run against the draft.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    /// The test file and the case's line in it.
    pub file: String,
    pub line: u32,
    pub name: String,
    pub passed: bool,
    /// What differed from the script, one line each.
    pub failures: Vec<String>,
    /// The exchange as it happened: (who, text), who being `resident`, `gateway` or `wait`.
    pub transcript: Vec<(&'static str, String)>,
}

/// Runs every conversation test in `dir` written for `flow_id` (`flow: ID` at the top of a
/// `*.test.yaml`), against `catalog`, exactly as `civictext flows test` does.
pub fn run_tests(
    dir: &FsPath,
    flow_id: &str,
    catalog: &Catalog,
) -> Result<Vec<TestOutcome>, String> {
    let files = crate::flows_dir::read_tests(dir).map_err(|e| format!("{e:#}"))?;
    let mut out = Vec::new();
    for (name, text) in files {
        let file = match conversation_test::parse(&text) {
            Ok(f) => f,
            // Which flow a broken file tests is not known; it is shown only when it names this
            // flow's file.
            Err((line, column, message)) if name.starts_with(flow_id) => {
                out.push(TestOutcome {
                    file: name.clone(),
                    line,
                    name: format!("{name} cannot be read"),
                    passed: false,
                    failures: vec![format!("{name}:{line}:{column}: {message}")],
                    transcript: Vec::new(),
                });
                continue;
            }
            Err(_) => continue,
        };
        if file.flow.value != flow_id {
            continue;
        }
        for case in conversation_test::run(catalog, &file) {
            out.push(TestOutcome {
                file: name.clone(),
                line: case.line,
                passed: case.failures.is_empty(),
                name: case.name,
                failures: case.failures,
                transcript: case.transcript,
            });
        }
    }
    Ok(out)
}

/// The text a new flow starts from.
fn template(flow_id: &str) -> String {
    format!(
        "flow: {flow_id}\n\
         title: {flow_id}\n\
         keywords: [{}]\n\
         languages: [en]\n\
         expires_after: 24h\n\
         steps:\n  \
           - say: Thanks for texting! One quick question. Reply STOP to opt out.\n  \
           - ask: rating\n    \
             type: number\n    \
             range: 1..5\n    \
             text: From 1 to 5, how would you rate it?\n  \
           - say: Thank you! Your answer was recorded.\n",
        flow_id.to_uppercase().replace('-', "")
    )
}

/// Whether `id` is usable as a new flow's id (and in the console's addresses).
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-')
}

/// What the editor shows about the last action.
#[derive(Debug, Default)]
struct Outcome {
    notice: Option<String>,
    error: Option<String>,
    tests: Option<Vec<TestOutcome>>,
}

#[derive(Template)]
#[template(path = "flow_edit.html")]
struct EditPage {
    layout: Layout,
    flow: String,
    /// The version the draft started from (empty for a new flow).
    base: String,
    file: String,
    source: String,
    note: String,
    problems: Vec<Problem>,
    summary: String,
    outcome: Outcome,
    /// Passed and failed tests.
    passed: usize,
    failed: usize,
}

/// The file name a draft of `flow_id` is checked under: the published version's file name.
fn draft_name(published: &[(RecordedFlow, Publication)], flow_id: &str) -> String {
    published
        .iter()
        .find(|(r, _)| r.flow_id == flow_id)
        .map(|(r, _)| display_name(&r.source.name).to_string())
        .unwrap_or_else(|| format!("{flow_id}.yaml"))
}

#[allow(clippy::too_many_arguments)]
fn render(
    staff: &Staff,
    flow: String,
    base: String,
    file: String,
    source: String,
    note: String,
    checked: &Checked,
    outcome: Outcome,
) -> Result<Response, ConsoleError> {
    let (passed, failed) = outcome.tests.as_ref().map_or((0, 0), |t| {
        let p = t.iter().filter(|t| t.passed).count();
        (p, t.len() - p)
    });
    page(&EditPage {
        layout: Layout::new(staff, format!("Edit {flow}"), "flows"),
        flow,
        base,
        file,
        source,
        note,
        summary: summary(&checked.problems),
        problems: checked.problems.clone(),
        outcome,
        passed,
        failed,
    })
}

async fn checked(
    published: Vec<(RecordedFlow, Publication)>,
    flow: String,
    name: String,
    source: String,
) -> Result<Checked, ConsoleError> {
    tokio::task::spawn_blocking(move || check_draft(&published, &flow, &name, &source))
        .await
        .map_err(|e| ConsoleError::BadRequest(format!("the draft could not be checked: {e}")))
}

/// `?from=VERSION`: edit starting from an earlier version.
#[derive(Debug, Default, Deserialize)]
pub struct EditQuery {
    #[serde(default)]
    pub from: String,
}

/// `GET /console/flows/{flow}/edit`: the editor, on the published version (or `?from=` an
/// earlier one, or a template for a flow not published yet).
pub async fn edit_page(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::EditFlows>,
    Path(flow): Path<String>,
    Query(q): Query<EditQuery>,
) -> Result<Response, ConsoleError> {
    let store = &state.gateway.store;
    let published = store.published_flows().await?;
    let name = draft_name(&published, &flow);
    let (base, source) = if !q.from.is_empty() {
        let Some(file) = store.flow_version(&flow, &q.from).await? else {
            return Err(ConsoleError::NotFound(format!(
                "`{flow}` has no version {}.",
                q.from
            )));
        };
        (q.from.clone(), file.text)
    } else if let Some((r, _)) = published.iter().find(|(r, _)| r.flow_id == flow) {
        (r.version.clone(), r.source.text.clone())
    } else if valid_id(&flow) {
        (String::new(), template(&flow))
    } else {
        return Err(ConsoleError::NotFound(
            "A flow's id is lower-case letters, digits and dashes.".into(),
        ));
    };
    let checked = checked(published, flow.clone(), name.clone(), source.clone()).await?;
    render(
        &staff,
        flow,
        base,
        name,
        source,
        String::new(),
        &checked,
        Outcome::default(),
    )
}

/// The editor's form.
#[derive(Debug, Default, Deserialize)]
pub struct EditForm {
    #[serde(default)]
    pub source: String,
    /// `check`, `test` or `publish`.
    #[serde(default)]
    pub action: String,
    /// Why, kept in the history.
    #[serde(default)]
    pub note: String,
    /// The version the draft started from.
    #[serde(default)]
    pub base: String,
}

/// `POST /console/flows/{flow}/edit`: check the draft, run its conversation tests, or publish
/// it.
pub async fn edit_post(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::EditFlows>,
    Path(flow): Path<String>,
    Form(form): Form<EditForm>,
) -> Result<Response, ConsoleError> {
    let store = &state.gateway.store;
    let published = store.published_flows().await?;
    let name = draft_name(&published, &flow);
    // Browsers send CR LF from a textarea; the flow is kept as the clerk sees it, with LF.
    let source = form.source.replace("\r\n", "\n");
    let note = form.note.trim().chars().take(500).collect::<String>();
    let checked = checked(published, flow.clone(), name.clone(), source.clone()).await?;
    let mut outcome = Outcome::default();
    let mut status = StatusCode::OK;
    match form.action.as_str() {
        "publish" => match &checked.flow {
            None => {
                status = StatusCode::UNPROCESSABLE_ENTITY;
                outcome.error = Some(format!(
                    "Not published: the draft has {} error(s), listed below. The version being \
                     served is unchanged.",
                    checked.errors()
                ));
            }
            Some(compiled) => {
                let id = store
                    .publish_flow(&NewPublication {
                        flow_id: &compiled.id,
                        version: &compiled.version,
                        source: &SourceFile {
                            name: name.clone(),
                            text: source.clone(),
                        },
                        origin: Origin::Console,
                        by: &staff.email,
                        note: (!note.is_empty()).then_some(note.as_str()),
                        at: crate::gateway::Gateway::now(),
                    })
                    .await?;
                match id {
                    Some(id) => {
                        audit(
                            &state,
                            &staff,
                            "flow.publish",
                            &format!(
                                "{} version {} (publication {id}){}",
                                compiled.id,
                                compiled.version,
                                if note.is_empty() {
                                    String::new()
                                } else {
                                    format!(": {note}")
                                }
                            ),
                        )
                        .await?;
                        return Ok(see_other(&format!(
                            "/console/flows/{}/versions?published={}",
                            compiled.id, compiled.version
                        )));
                    }
                    None => {
                        outcome.notice = Some(format!(
                            "Version {} is already the published version: nothing changed.",
                            compiled.version
                        ))
                    }
                }
            }
        },
        "test" => match &checked.flow {
            None => {
                outcome.error = Some(
                    "The conversation tests run once the draft has no errors: fix the errors \
                     listed below first."
                        .into(),
                )
            }
            Some(_) => {
                let Some(dir) = state.console.flows_dir.clone() else {
                    return Err(ConsoleError::BadRequest(
                        "This gateway has no flows directory, where conversation tests are kept."
                            .into(),
                    ));
                };
                let catalog = checked.catalog.clone();
                let id = flow.clone();
                let result = tokio::task::spawn_blocking(move || run_tests(&dir, &id, &catalog))
                    .await
                    .map_err(|e| {
                        ConsoleError::BadRequest(format!("the tests could not run: {e}"))
                    })?;
                match result {
                    Ok(tests) if tests.is_empty() => {
                        outcome.notice = Some(format!(
                            "`{flow}` has no conversation tests: add a `{flow}.test.yaml` with \
                             `flow: {flow}` to the flows directory."
                        ))
                    }
                    Ok(tests) => outcome.tests = Some(tests),
                    Err(e) => {
                        outcome.error =
                            Some(format!("The conversation tests could not be read: {e}"))
                    }
                }
            }
        },
        _ => {}
    }
    let mut resp = render(
        &staff, flow, form.base, name, source, note, &checked, outcome,
    )?;
    *resp.status_mut() = status;
    Ok(resp)
}

/// The check endpoint's form: the draft (and the page's `csrf`).
#[derive(Debug, Default, Deserialize)]
pub struct CheckForm {
    #[serde(default)]
    pub source: String,
}

/// What the check endpoint answers.
#[derive(Debug, serde::Serialize)]
pub struct CheckReply {
    pub summary: String,
    pub errors: usize,
    pub warnings: usize,
    pub diagnostics: Vec<Problem>,
}

/// `POST /console/flows/{flow}/check` (form: `csrf`, `source`): the draft's problems as JSON,
/// for the editor to mark as the clerk types.
pub async fn check(
    State(state): State<AppState>,
    Signed(_staff, _): Signed<gates::EditFlows>,
    Path(flow): Path<String>,
    Form(form): Form<CheckForm>,
) -> Result<Response, ConsoleError> {
    let published = state.gateway.store.published_flows().await?;
    let name = draft_name(&published, &flow);
    let source = form.source.replace("\r\n", "\n");
    let checked = checked(published, flow, name, source).await?;
    let errors = checked.errors();
    Ok(Json(CheckReply {
        summary: summary(&checked.problems),
        errors,
        warnings: checked.problems.len() - errors,
        diagnostics: checked.problems,
    })
    .into_response())
}

/// `?id=` of a new flow.
#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    #[serde(default)]
    pub id: String,
}

/// `GET /console/new-flow?id=ID`: the editor on a template for a new flow.
pub async fn new_flow(
    Signed(_staff, _): Signed<gates::EditFlows>,
    Query(q): Query<NewQuery>,
) -> Result<Response, ConsoleError> {
    let id = q.id.trim().to_lowercase();
    if !valid_id(&id) {
        return Err(ConsoleError::BadRequest(
            "A flow's id is lower-case letters, digits and dashes (for example `tree-survey`). \
             Go back and choose another."
                .into(),
        ));
    }
    Ok(see_other(&format!("/console/flows/{id}/edit")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_flow_starts_from_a_template_that_checks_clean() {
        let checked = check_draft(
            &[],
            "tree-survey",
            "tree-survey.yaml",
            &template("tree-survey"),
        );
        assert_eq!(checked.errors(), 0, "{:?}", checked.problems);
        assert!(checked.flow.is_some());
    }

    #[test]
    fn a_draft_naming_another_flow_is_an_error_at_its_flow_line() {
        let text = template("tree-survey").replace("flow: tree-survey", "flow: other");
        let checked = check_draft(&[], "tree-survey", "tree-survey.yaml", &text);
        assert_eq!(checked.problems[0].line, 1);
        assert!(checked.flow.is_none());
    }

    #[test]
    fn a_huge_draft_is_refused_with_its_size() {
        let text = format!("flow: x\n#{}\n", "a".repeat(MAX_DRAFT_BYTES));
        let checked = check_draft(&[], "x", "x.yaml", &text);
        assert!(checked.problems[0].message.contains("at most 48 KB"));
    }
}
