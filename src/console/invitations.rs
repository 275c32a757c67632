//! Invitations: broadcasts and survey invitations from the console. Staff compose a text (in
//! English and Spanish) or pick a flow whose opening question is sent, choose the audience and
//! the time, see a preview (audience size, segments, encoding and cost per language, what quiet
//! hours will hold) that queues nothing, and confirm; then follow each broadcast's progress and
//! cancel what has not gone. The checks, the estimate and the queueing are the ones
//! `civictext broadcast` uses.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;

use super::session::{Signed, gates};
use super::{ConsoleError, Layout, audit, page, see_other};
use crate::gateway::Gateway;
use crate::http::AppState;
use crate::outbound::compose::{self, Estimate, QuietForecast};
use crate::store::{Audience, BroadcastSummary, Invitation, NewBroadcast};

/// Broadcasts listed per page.
const PAGE_ROWS: u32 = 25;

/// How far in the past a "later" time may be before it is refused as a mistake.
const PAST_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_mins(1);

/// The languages the compose form has a text field for: (code, name).
pub const LANGUAGES: [(&str, &str); 2] = [("en", "English"), ("es", "Spanish")];

fn language_name(code: &str) -> String {
    LANGUAGES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(|| code.to_string(), |(_, n)| (*n).to_string())
}

fn local(state: &AppState, t: Timestamp) -> String {
    super::clock::minute(&state.gateway.time_zone, t)
}

/// The compose form, as posted (the preview and the confirmation carry the same fields).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ComposeForm {
    /// `text` (a plain broadcast) or `survey` (an invitation to a flow).
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub text_en: String,
    #[serde(default)]
    pub text_es: String,
    /// The flow a survey invitation opens.
    #[serde(default)]
    pub flow: String,
    /// Narrow the audience to contacts whose profile field `field` is `value`.
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub value: String,
    /// Only contacts who consented to this topic.
    #[serde(default)]
    pub topic: String,
    /// `now` or `later`.
    #[serde(default)]
    pub when: String,
    /// With `later`: a date and time in the gateway's time zone.
    #[serde(default)]
    pub at: String,
}

impl ComposeForm {
    fn survey(&self) -> bool {
        self.kind == "survey"
    }
}

/// Problems with the form, each shown at its field.
#[derive(Debug, Default)]
pub struct Errors(Vec<(&'static str, String)>);

impl Errors {
    /// The problem with `field`, if any.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }

    /// Whether the form has no problems.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every problem, in the order of the form.
    pub fn all(&self) -> &[(&'static str, String)] {
        &self.0
    }
}

/// A message with its first letter capitalised, to stand alone under a field.
fn sentence(s: impl std::fmt::Display) -> String {
    let s = s.to_string();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => s,
    }
}

/// A valid form, ready to preview or queue.
struct Draft {
    texts: Vec<(String, String)>,
    invitation: Option<Invitation>,
    audience: Audience,
    label: String,
    topic: Option<String>,
    send_at: Timestamp,
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check(state: &AppState, form: &ComposeForm, now: Timestamp) -> Result<Draft, Errors> {
    let mut errors = Errors::default();
    let zone = &state.gateway.time_zone;
    let mut texts = Vec::new();
    let mut invitation = None;
    if form.survey() {
        let flows = state.gateway.flows();
        match flows.catalog().get(form.flow.trim()) {
            None => errors.add("flow", "Choose the flow to invite residents to."),
            Some(flow) => match compose::invitation(flow, now, zone) {
                Ok((t, inv)) => {
                    for (lang, text) in &t {
                        if let Err(e) = compose::check_text(lang, text) {
                            errors.add("flow", sentence(e));
                        }
                    }
                    texts = t;
                    invitation = Some(inv);
                }
                Err(e) => errors.add("flow", sentence(e)),
            },
        }
    } else {
        for (lang, field, value) in [
            ("en", "text_en", &form.text_en),
            ("es", "text_es", &form.text_es),
        ] {
            let text = value.trim();
            if lang != "en" && text.is_empty() {
                continue;
            }
            match compose::check_text(lang, text) {
                Ok(()) => texts.push((lang.to_string(), text.to_string())),
                Err(e) => errors.add(field, sentence(e)),
            }
        }
    }
    let (field, value) = (form.field.trim(), form.value.trim());
    let (audience, mut label) = match (field.is_empty(), value.is_empty()) {
        (true, true) => (Audience::Everyone, "every consenting contact".to_string()),
        (false, false) if is_name(field) => (
            Audience::Field {
                name: field.to_string(),
                value: value.to_string(),
            },
            format!("where {field}={value}"),
        ),
        (false, false) => {
            errors.add(
                "field",
                "A profile field name has letters, digits, - and _ only (e.g. zip).",
            );
            (Audience::Everyone, String::new())
        }
        (false, true) => {
            errors.add("value", format!("Say which value of {field} to send to."));
            (Audience::Everyone, String::new())
        }
        (true, false) => {
            errors.add("field", "Say which profile field must have this value.");
            (Audience::Everyone, String::new())
        }
    };
    let topic = form.topic.trim();
    let topic = if topic.is_empty() {
        None
    } else if topic.len() <= 64
        && topic
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        label = format!("{label}, consenting to {topic}");
        Some(topic.to_string())
    } else {
        errors.add(
            "topic",
            "A consent topic has lower-case letters, digits, - and _ only, as flows name them.",
        );
        None
    };
    let send_at = if form.when == "later" {
        match compose::parse_time(&form.at, zone) {
            Ok(t) if t < now - PAST_GRACE => {
                errors.add(
                    "at",
                    "That time has passed: choose a time to come, or send now.",
                );
                now
            }
            Ok(t) => t,
            Err(_) if form.at.trim().is_empty() => {
                errors.add("at", "Choose the date and time to send at.");
                now
            }
            Err(e) => {
                errors.add("at", sentence(e));
                now
            }
        }
    } else {
        now
    };
    if errors.is_empty() {
        Ok(Draft {
            texts,
            invitation,
            audience,
            label,
            topic,
            send_at,
        })
    } else {
        Err(errors)
    }
}

/// One language's line of the cost table.
pub struct CostRow {
    pub language: String,
    pub encoding: &'static str,
    pub characters: usize,
    pub segments: u32,
    pub recipients: u64,
    pub total_segments: u64,
    pub cost: String,
    /// Why the text is UCS-2 (empty when GSM-7).
    pub ucs2_because: String,
    pub text: String,
}

/// What the preview shows.
pub struct Preview {
    pub what: String,
    pub audience: String,
    pub recipients: u64,
    pub send_at: String,
    pub costs: Vec<CostRow>,
    pub total_segments: u64,
    pub total_cost: String,
    pub price: String,
    pub quiet: String,
}

fn quiet_words(state: &AppState, f: Option<QuietForecast>, recipients: u64) -> String {
    let Some(f) = f else {
        return "Quiet hours are off: every text goes at the send time.".into();
    };
    let window = format!(
        "{:02}:{:02}–{:02}:{:02}",
        f.window.start.hour(),
        f.window.start.minute(),
        f.window.end.hour(),
        f.window.end.minute()
    );
    let rule = format!(
        "Quiet hours {window}: texts to residents in a quiet window wait until {:02}:{:02} their \
         time.",
        f.window.end.hour(),
        f.window.end.minute()
    );
    match f.until {
        Some(until) => format!(
            "{rule} At the send time {} of {recipients} recipient{} will be in it; the last of \
             their texts waits until {}.",
            f.held,
            if recipients == 1 { "" } else { "s" },
            local(state, until)
        ),
        None => format!("{rule} At the send time no recipient is in it."),
    }
}

fn preview_of(state: &AppState, d: &Draft, e: &Estimate, quiet: String) -> Preview {
    let costs = e
        .languages
        .iter()
        .zip(&d.texts)
        .map(|(l, (_, text))| CostRow {
            language: language_name(&l.language),
            encoding: l.encoding.as_str(),
            characters: l.characters,
            segments: l.segments,
            recipients: l.recipients,
            total_segments: l.total_segments,
            cost: format!("${:.2}", l.cost),
            ucs2_because: l
                .ucs2_because
                .iter()
                .map(|c| format!("“{c}” (U+{:04X})", *c as u32))
                .collect::<Vec<_>>()
                .join(", "),
            text: text.clone(),
        })
        .collect();
    Preview {
        what: match &d.invitation {
            Some(i) => format!("Survey invitation to {}", i.flow_id),
            None => "Text".into(),
        },
        audience: d.label.clone(),
        recipients: e.recipients,
        send_at: local(state, d.send_at),
        costs,
        total_segments: e.total_segments,
        total_cost: format!("${:.2}", e.cost),
        price: format!("${}", e.price_per_segment),
        quiet,
    }
}

#[derive(Template)]
#[template(path = "invitation_compose.html")]
struct ComposePage {
    layout: Layout,
    form: ComposeForm,
    errors: Errors,
    flows: Vec<(String, String)>,
    preview: Option<Preview>,
    sending: bool,
    zone: String,
}

fn compose_page_of(
    state: &AppState,
    staff: &super::session::Staff,
    form: ComposeForm,
    errors: Errors,
    preview: Option<Preview>,
) -> ComposePage {
    let flows = state
        .gateway
        .flows()
        .catalog()
        .flows()
        .iter()
        .map(|f| (f.id.clone(), f.title.clone()))
        .collect();
    let title = if preview.is_some() {
        "Preview the invitation"
    } else {
        "New invitation"
    };
    ComposePage {
        layout: Layout::new(staff, title, "invitations"),
        form,
        errors,
        flows,
        preview,
        sending: state.console.sending,
        zone: state
            .gateway
            .time_zone
            .iana_name()
            .unwrap_or("the gateway's time zone")
            .to_string(),
    }
}

/// `GET /console/invitations/new`.
pub async fn compose_page(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Broadcasts>,
) -> Result<Response, ConsoleError> {
    let form = ComposeForm {
        kind: "text".into(),
        when: "now".into(),
        ..ComposeForm::default()
    };
    page(&compose_page_of(
        &state,
        &staff,
        form,
        Errors::default(),
        None,
    ))
}

/// The form again with its problems at their fields (422).
fn refused(
    state: &AppState,
    staff: &super::session::Staff,
    form: ComposeForm,
    errors: Errors,
) -> Result<Response, ConsoleError> {
    let html = compose_page_of(state, staff, form, errors, None).render()?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, axum::response::Html(html)).into_response())
}

/// `POST /console/invitations/preview`: checks the form and shows who it would reach, what it
/// costs and what quiet hours will hold. Queues nothing.
pub async fn preview(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Broadcasts>,
    Form(form): Form<ComposeForm>,
) -> Result<Response, ConsoleError> {
    let now = Gateway::now();
    let draft = match check(&state, &form, now) {
        Ok(d) => d,
        Err(errors) => return refused(&state, &staff, form, errors),
    };
    // Counted in the database: a preview never lists the residents it would reach.
    let audience = state
        .gateway
        .store
        .audience_groups(&draft.audience, draft.topic.as_deref())
        .await?;
    let estimate = compose::estimate(&draft.texts, &audience, compose::DEFAULT_PRICE_PER_SEGMENT);
    let forecast = compose::quiet_forecast(
        state.console.quiet_hours,
        draft.send_at,
        &audience,
        &state.gateway.time_zone,
    );
    let quiet = quiet_words(&state, forecast, estimate.recipients);
    let preview = preview_of(&state, &draft, &estimate, quiet);
    page(&compose_page_of(
        &state,
        &staff,
        form,
        Errors::default(),
        Some(preview),
    ))
}

/// `POST /console/invitations`: checks the form again and queues the broadcast, recorded as
/// the signed-in staff member's and in the audit log.
pub async fn confirm(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Broadcasts>,
    Form(form): Form<ComposeForm>,
) -> Result<Response, ConsoleError> {
    let now = Gateway::now();
    let draft = match check(&state, &form, now) {
        Ok(d) => d,
        Err(errors) => return refused(&state, &staff, form, errors),
    };
    let (id, queued) = state
        .gateway
        .store
        .queue_broadcast(&NewBroadcast {
            texts: draft.texts,
            audience_label: draft.label.clone(),
            audience: draft.audience,
            topic: draft.topic,
            invitation: draft.invitation,
            send_at: draft.send_at,
            created_by: staff.email.clone(),
            now,
        })
        .await?;
    audit(
        &state,
        &staff,
        "broadcast_queued",
        &format!(
            "queued broadcast {id}: {queued} text(s) to {}, from {}",
            draft.label,
            local(&state, draft.send_at)
        ),
    )
    .await?;
    Ok(see_other(&format!("/console/invitations/{id}?queued=1")))
}

/// One broadcast as a list row or a progress page shows it.
pub struct BroadcastView {
    pub id: i64,
    pub created: String,
    pub created_by: String,
    pub what: String,
    pub audience: String,
    pub send_at: String,
    pub state: &'static str,
    pub recipients: i64,
    pub sent: i64,
    pub failed: i64,
    pub skipped: i64,
    pub cancelled: i64,
    /// Not yet gone: queued, being handed to Twilio, or in doubt.
    pub waiting: i64,
    /// Done (sent, failed, skipped or cancelled).
    pub done: i64,
    pub percent: i64,
    /// Something can still be cancelled.
    pub cancellable: bool,
    pub texts: Vec<(String, String)>,
}

fn view(state: &AppState, b: BroadcastSummary, now: Timestamp) -> BroadcastView {
    let p = &b.progress;
    let waiting = p.queued + p.sending + p.in_doubt;
    let done = p.sent + p.failed + p.skipped + p.cancelled;
    let state_word = if p.status == "cancelled" {
        "cancelled"
    } else if waiting == 0 {
        "finished"
    } else if b.send_at > now {
        "scheduled"
    } else {
        "sending"
    };
    BroadcastView {
        id: b.id,
        created: local(state, b.created_at),
        created_by: b.created_by.clone(),
        what: match &b.flow_id {
            Some(f) => format!("Survey invitation to {f}"),
            None => "Text".into(),
        },
        audience: b.audience.clone(),
        send_at: local(state, b.send_at),
        state: state_word,
        recipients: p.recipients,
        sent: p.sent,
        failed: p.failed,
        skipped: p.skipped,
        cancelled: p.cancelled,
        waiting,
        done,
        percent: if p.recipients > 0 {
            (done * 100 / p.recipients).clamp(0, 100)
        } else {
            100
        },
        cancellable: p.status == "queued" && p.queued > 0,
        texts: b
            .texts
            .iter()
            .map(|(l, t)| (language_name(l), t.clone()))
            .collect(),
    }
}

#[derive(Template)]
#[template(path = "invitations.html")]
struct ListPage {
    layout: Layout,
    rows: Vec<BroadcastView>,
    next: Option<i64>,
    sending: bool,
}

/// Query of the list.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// Show broadcasts older than this one (the next page).
    pub before: Option<i64>,
}

/// `GET /console/invitations`.
pub async fn list(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Broadcasts>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let now = Gateway::now();
    let found = state.gateway.store.broadcasts(PAGE_ROWS, q.before).await?;
    let next = (found.len() == PAGE_ROWS as usize)
        .then(|| found.last().map(|b| b.id))
        .flatten();
    page(&ListPage {
        layout: Layout::new(&staff, "Invitations", "invitations"),
        rows: found.into_iter().map(|b| view(&state, b, now)).collect(),
        next,
        sending: state.console.sending,
    })
}

#[derive(Template)]
#[template(path = "invitation.html")]
struct ProgressPage {
    layout: Layout,
    b: BroadcastView,
    notice: Option<String>,
    sending: bool,
}

/// Query of the progress page.
#[derive(Debug, Default, Deserialize)]
pub struct ProgressQuery {
    pub queued: Option<String>,
    pub cancelled: Option<i64>,
}

/// `GET /console/invitations/{id}`.
pub async fn progress(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Broadcasts>,
    Path(id): Path<i64>,
    Query(q): Query<ProgressQuery>,
) -> Result<Response, ConsoleError> {
    let Some(b) = state.gateway.store.broadcast(id).await? else {
        return Err(ConsoleError::NotFound(format!(
            "There is no broadcast {id}."
        )));
    };
    let notice = match (q.queued, q.cancelled) {
        (_, Some(n)) => Some(format!(
            "Cancelled: {n} text{} that had not gone will not be sent.",
            if n == 1 { "" } else { "s" }
        )),
        (Some(_), None) => Some(format!(
            "Queued: {} text{}.",
            b.progress.recipients,
            if b.progress.recipients == 1 { "" } else { "s" }
        )),
        (None, None) => None,
    };
    page(&ProgressPage {
        layout: Layout::new(&staff, format!("Broadcast {id}"), "invitations"),
        b: view(&state, b, Gateway::now()),
        notice,
        sending: state.console.sending,
    })
}

/// `POST /console/invitations/{id}/cancel`: what has not gone is not sent (texts already handed
/// to Twilio have gone).
pub async fn cancel(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Broadcasts>,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    let store = &state.gateway.store;
    if store.broadcast_progress(id).await?.is_none() {
        return Err(ConsoleError::NotFound(format!(
            "There is no broadcast {id}."
        )));
    }
    let n = store.cancel_broadcast(id, Gateway::now()).await?;
    audit(
        &state,
        &staff,
        "broadcast_cancelled",
        &format!("cancelled broadcast {id}: {n} text(s) that had not gone"),
    )
    .await?;
    Ok(see_other(&format!(
        "/console/invitations/{id}?cancelled={n}"
    )))
}
