//! Results of one flow: the headline counts, the drop-off funnel, a chart per question, sessions
//! over time, the language split and the keyword each conversation came in by; a filterable
//! table of responses and its CSV download (the agencies' API's CSV).

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::charts::{self, Bar};
use super::clock;
use super::home::percent;
use super::session::{Signed, gates};
use super::{ConsoleError, Layout, audit, page};
use crate::auth::staff::Permission;
use crate::flow::model::{AnswerKind, Flow};
use crate::http::AppState;
use crate::http::api::summary::summarize;
use crate::store::results::{ResultsFilter, SESSION_STATUSES};

/// A chart with its text alternative (the same numbers as a table).
pub struct Chart {
    pub svg: String,
    pub rows: Vec<Bar>,
}

impl Chart {
    fn bars(title: &str, rows: Vec<Bar>) -> Chart {
        Chart {
            svg: charts::bars(title, &rows),
            rows,
        }
    }
}

/// One question on the results page.
pub struct QuestionView {
    pub id: String,
    /// The answer type (`choice`, `number` …).
    pub kind: &'static str,
    pub answered: i64,
    pub dropped_after: i64,
    pub chart: Option<Chart>,
    /// Latest free-text answers: (text, when).
    pub texts: Vec<(String, String)>,
    /// Why no chart or texts are shown.
    pub note: Option<String>,
}

#[derive(Template)]
#[template(path = "flow.html")]
struct FlowPage {
    layout: Layout,
    flow: String,
    cards: Vec<(&'static str, String, &'static str)>,
    funnel: Chart,
    questions: Vec<QuestionView>,
    over_time: Chart,
    languages: Chart,
    keywords: Chart,
    /// When the counts shown were taken, if they are a snapshot.
    counted_at: Option<String>,
}

enum Shown {
    Categories,
    Numbers,
    Texts,
    Private,
    CountOnly,
}

fn shown(kind: &AnswerKind) -> Shown {
    match kind {
        AnswerKind::Choice(_) | AnswerKind::YesNo | AnswerKind::Language(_) => Shown::Categories,
        AnswerKind::Number { .. } => Shown::Numbers,
        AnswerKind::Text { .. }
        | AnswerKind::Pattern(_)
        | AnswerKind::Date
        | AnswerKind::Location { .. } => Shown::Texts,
        AnswerKind::Phone | AnswerKind::Email => Shown::Private,
        AnswerKind::Photo => Shown::CountOnly,
    }
}

/// The question `id` in the current version of `flow`, else in any older version.
fn find_kind<'a>(versions: &'a [std::sync::Arc<Flow>], id: &str) -> Option<&'a AnswerKind> {
    versions
        .iter()
        .find_map(|f| f.questions().find(|q| q.id == id).map(|q| &q.kind))
}

/// Choice labels (first language) by key, across versions.
fn choice_labels(versions: &[std::sync::Arc<Flow>], id: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for f in versions {
        for q in f.questions().filter(|q| q.id == id) {
            if let AnswerKind::Choice(c) | AnswerKind::Language(c) = &q.kind {
                for (k, l) in c.keys.iter().zip(&c.labels) {
                    if !out.iter().any(|(key, _)| key == k) {
                        out.push((k.clone(), l.get(f.default_language()).render(|_| None)));
                    }
                }
            }
        }
    }
    out
}

/// Every version of `flow` the gateway knows, the current one first.
fn versions(state: &AppState, flow: &str) -> Vec<std::sync::Arc<Flow>> {
    let set = state.gateway.flows();
    let mut out: Vec<std::sync::Arc<Flow>> = set.catalog().get(flow).cloned().into_iter().collect();
    for (id, version) in set.known_versions() {
        if id == flow
            && !out.iter().any(|f| f.version == version)
            && let Some(f) = set.version(&id, &version)
        {
            out.push(f);
        }
    }
    out
}

/// `GET /console/flows/{flow}`.
pub async fn flow_page(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Results>,
    Path(flow): Path<String>,
) -> Result<Response, ConsoleError> {
    let versions = versions(&state, &flow);
    let Some(current) = versions.first() else {
        return Err(ConsoleError::NotFound(format!(
            "There is no flow {flow:?}."
        )));
    };
    let title = format!("{} — results", current.title);
    let store = &state.gateway.store;
    let zone = &state.gateway.time_zone;
    let order = crate::export::questions(&state.gateway.flows(), &flow);
    let counts = state.console.summary_counts(store, &flow).await?;
    let summary = summarize(&flow, &order, &counts.value);
    let kind_of = |q: &str| find_kind(&versions, q).map(shown);
    let numbers: Vec<String> = order
        .iter()
        .filter(|q| matches!(kind_of(q), Some(Shown::Numbers)))
        .cloned()
        .collect();
    let phones = staff.may(Permission::Phones);
    let texts: Vec<String> = order
        .iter()
        .filter(|q| match kind_of(q) {
            Some(Shown::Texts) => true,
            Some(Shown::Private) => phones,
            _ => false,
        })
        .cloned()
        .collect();
    let insights = {
        let (store, id) = (store.clone(), flow.clone());
        let (numbers, texts) = (numbers.clone(), texts.clone());
        state
            .console
            .insights
            .get((flow.clone(), phones), move || async move {
                store.flow_insights(&id, &numbers, &texts).await
            })
            .await?
    };
    let counted_at = counts
        .snapshot_of
        .into_iter()
        .chain(insights.snapshot_of)
        .min()
        .map(|at| super::snapshots::describe(&state.gateway.time_zone, at));
    let insights = insights.value;

    let cards = vec![
        ("Started", summary.started.to_string(), "started"),
        ("Completed", summary.completed.to_string(), "completed"),
        ("In progress", summary.active.to_string(), "active"),
        ("Expired", summary.expired.to_string(), "expired"),
        ("Opted out", summary.opted_out.to_string(), "opted_out"),
        (
            "Completion rate",
            percent(summary.completed, summary.started),
            "rate",
        ),
    ];
    let mut funnel = vec![Bar::new("Started", summary.started)];
    let mut questions = Vec::new();
    for q in &summary.questions {
        funnel.push(Bar::new(format!("Answered {}", q.question), q.answered));
        let kind = find_kind(&versions, &q.question);
        let mut view = QuestionView {
            id: q.question.clone(),
            kind: kind.map_or("removed", |k| k.name()),
            answered: q.answered,
            dropped_after: q.dropped_after,
            chart: None,
            texts: Vec::new(),
            note: None,
        };
        match kind.map(shown) {
            Some(Shown::Categories) | None => {
                let labels = choice_labels(&versions, &q.question);
                let mut rows: Vec<Bar> = Vec::new();
                for (key, label) in &labels {
                    let n = q.categories.get(key).copied().unwrap_or(0);
                    rows.push(Bar::new(format!("{label} ({key})"), n));
                }
                for (cat, n) in &q.categories {
                    if !labels.iter().any(|(k, _)| k == cat) {
                        rows.push(Bar::new(cat.clone(), *n));
                    }
                }
                view.chart = Some(Chart::bars(&format!("Answers to {}", q.question), rows));
            }
            Some(Shown::Numbers) => {
                let values = insights
                    .numbers
                    .get(&q.question)
                    .cloned()
                    .unwrap_or_default();
                view.chart = Some(Chart::bars(
                    &format!("Histogram of {}", q.question),
                    charts::histogram(&values),
                ));
            }
            Some(Shown::Texts) | Some(Shown::Private) if texts.contains(&q.question) => {
                view.texts = insights
                    .texts
                    .get(&q.question)
                    .map(|t| {
                        t.iter()
                            .map(|(text, at)| (text.clone(), clock::minute(zone, *at)))
                            .collect()
                    })
                    .unwrap_or_default();
                if view.texts.is_empty() {
                    view.note = Some("No answers yet.".into());
                }
            }
            Some(Shown::Private) => {
                view.note = Some(
                    "Phone numbers and emails are shown only to admins and caseworkers.".into(),
                )
            }
            Some(_) => view.note = Some("Photos are listed in the responses table.".into()),
        }
        questions.push(view);
    }
    funnel.push(Bar::new("Completed", summary.completed));
    let per_day: Vec<Bar> = super::clock::per_day(zone, &insights.per_quarter_hour)
        .into_iter()
        .map(|(d, n)| Bar::new(d.to_string(), n))
        .collect();
    let languages: Vec<Bar> = insights
        .languages
        .iter()
        .map(|(l, n)| Bar::new(l.clone(), *n))
        .collect();
    let mut keywords: Vec<Bar> = insights
        .keywords
        .iter()
        .map(|(k, n)| Bar::new(k.clone().unwrap_or_else(|| "(not by keyword)".into()), *n))
        .collect();
    keywords.sort_by(|a, b| b.value.cmp(&a.value).then(a.label.cmp(&b.label)));
    keywords.truncate(20);
    page(&FlowPage {
        layout: Layout::new(&staff, title, "home"),
        flow: flow.clone(),
        cards,
        funnel: Chart::bars("Drop-off funnel", funnel),
        questions,
        over_time: Chart {
            svg: charts::columns(
                &format!("Conversations started per day ({})", clock::zone_name(zone)),
                &per_day,
            ),
            rows: per_day,
        },
        languages: Chart::bars("Conversations per language", languages),
        keywords: Chart::bars("Conversations per keyword", keywords),
        counted_at,
    })
}

/// Filters of the responses table and its CSV.
#[derive(Debug, Default, Deserialize)]
pub struct TableQuery {
    #[serde(default)]
    pub status: String,
    /// First day (UTC), `2026-03-01`.
    #[serde(default)]
    pub since: String,
    /// Last day (UTC), included.
    #[serde(default)]
    pub until: String,
    /// Where the page starts (the store's position).
    pub after: Option<String>,
}

impl TableQuery {
    /// The filters, with days read as days of `zone` (the gateway's).
    fn filter(&self, flow: &str, zone: &jiff::tz::TimeZone) -> Result<ResultsFilter, ConsoleError> {
        let day =
            |name: &str, v: &str, plus: i64| -> Result<Option<jiff::Timestamp>, ConsoleError> {
                if v.is_empty() {
                    return Ok(None);
                }
                let d: jiff::civil::Date = v.parse().map_err(|_| {
                    ConsoleError::BadRequest(format!("{name} must be a date such as 2026-03-01."))
                })?;
                let d = d
                    .checked_add(jiff::Span::new().days(plus))
                    .map_err(|_| ConsoleError::BadRequest(format!("{name} is out of range.")))?;
                clock::start_of(zone, d)
                    .map(Some)
                    .ok_or_else(|| ConsoleError::BadRequest(format!("{name} is out of range.")))
            };
        let status = self.status.trim();
        if !status.is_empty() && !SESSION_STATUSES.contains(&status) {
            return Err(ConsoleError::BadRequest("Unknown status.".into()));
        }
        Ok(ResultsFilter {
            flow: Some(flow.to_string()),
            status: (!status.is_empty()).then(|| status.to_string()),
            since: day("From", self.since.trim(), 0)?,
            until: day("To", self.until.trim(), 1)?,
        })
    }

    /// The filters as a query string (without the position).
    pub fn query(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("status", &self.status)
            .append_pair("since", &self.since)
            .append_pair("until", &self.until)
            .finish()
    }
}

/// One row of the responses table.
pub struct TableRow {
    pub started: String,
    pub status: String,
    pub language: String,
    pub contact: String,
    pub phone: Option<String>,
    pub code: String,
    pub answers: Vec<String>,
}

#[derive(Template)]
#[template(path = "responses.html")]
struct ResponsesPage {
    layout: Layout,
    flow: String,
    q: TableQuery,
    statuses: Vec<&'static str>,
    questions: Vec<String>,
    rows: Vec<TableRow>,
    phones: bool,
    next: Option<String>,
    query: String,
}

/// Rows per page of the responses table.
const PAGE_ROWS: i64 = 50;

/// `GET /console/flows/{flow}/responses`.
pub async fn responses_page(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Results>,
    Path(flow): Path<String>,
    Query(q): Query<TableQuery>,
) -> Result<Response, ConsoleError> {
    if versions(&state, &flow).is_empty() {
        return Err(ConsoleError::NotFound(format!(
            "There is no flow {flow:?}."
        )));
    }
    let filter = q.filter(&flow, &state.gateway.time_zone)?;
    let questions = crate::export::questions(&state.gateway.flows(), &flow);
    let page_rows = state
        .gateway
        .store
        .responses_page(&filter, q.after.as_deref(), PAGE_ROWS)
        .await?
        .map_err(|_| ConsoleError::BadRequest("That page position is not valid.".into()))?;
    let phones = staff.may(Permission::Phones);
    let rows = page_rows
        .rows
        .into_iter()
        .map(|r| {
            let by_q: BTreeMap<&str, &str> = r
                .answers
                .iter()
                .map(|a| (a.question.as_str(), a.value.as_str()))
                .collect();
            TableRow {
                started: clock::minute(&state.gateway.time_zone, r.started_at),
                status: r.status.clone(),
                language: r.language.clone(),
                contact: state.pseudonyms.of(&r.phone),
                phone: phones.then(|| r.phone.clone()),
                code: r.tracking_code.clone().unwrap_or_default(),
                answers: questions
                    .iter()
                    .map(|q| by_q.get(q.as_str()).copied().unwrap_or("").to_string())
                    .collect(),
            }
        })
        .collect();
    let query = q.query();
    page(&ResponsesPage {
        layout: Layout::new(&staff, format!("{flow} — responses"), "home"),
        flow,
        statuses: SESSION_STATUSES.to_vec(),
        questions,
        rows,
        phones,
        next: page_rows.next,
        query,
        q,
    })
}

/// `GET /console/flows/{flow}/responses.csv`: the filtered sessions as the API's CSV; phone
/// numbers only for roles entitled to them. Each download is in the audit log.
pub async fn responses_csv(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Results>,
    Path(flow): Path<String>,
    Query(q): Query<TableQuery>,
) -> Result<Response, ConsoleError> {
    if versions(&state, &flow).is_empty() {
        return Err(ConsoleError::NotFound(format!(
            "There is no flow {flow:?}."
        )));
    }
    let filter = q.filter(&flow, &state.gateway.time_zone)?;
    let pii = staff.may(Permission::Phones);
    audit(
        &state,
        &staff,
        "csv_download",
        &format!(
            "downloaded {flow} responses ({}{})",
            q.query(),
            if pii { ", with phone numbers" } else { "" }
        ),
    )
    .await?;
    let mut resp = crate::http::api::responses::csv_download(&state, filter, &flow, pii);
    let name = format!(
        "attachment; filename=\"{}-responses.csv\"",
        flow.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect::<String>()
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&name) {
        resp.headers_mut()
            .insert(axum::http::header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
