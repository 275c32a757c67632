//! The simulator: a phone-shaped chat with any version of a flow, over the real engine and the
//! gateway's own decision for every text (STOP, HELP, other flows' keywords, the default reply),
//! with each message's segments and encoding. Nothing is stored: the page carries the texts
//! typed so far and the conversation is replayed from the start on every turn, in memory.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::session::{Signed, gates};
use super::{ConsoleError, Layout, page};
use crate::flow::engine::{self, Context, Effect, Status};
use crate::gateway::dispatch;
use crate::gateway::{FlowSet, Gateway, Replies};
use crate::http::AppState;
use crate::sms::segments;
use crate::store::{ActiveSession, ConsentChange, Contact, Decision, Snapshot};

/// Texts a simulated conversation may have.
pub const MAX_TEXTS: usize = 60;
/// Longest text accepted from the simulator's box.
const MAX_TEXT_CHARS: usize = 1600;

/// What the store would do with a decision, kept in memory (the simulators' store).
pub fn apply(contact: &mut Contact, session: &mut Option<ActiveSession>, d: Decision) {
    match d.consent {
        Some(ConsentChange::OptOut) => contact.opted_out = true,
        Some(ConsentChange::OptIn) => contact.opted_out = false,
        None => {}
    }
    if let Some(l) = d.language {
        contact.language = Some(l);
    }
    contact.fields.extend(d.fields);
    if let Some(t) = d.throttle {
        contact.unmatched_count = t.unmatched_count;
        contact.unmatched_since = t.unmatched_since;
        contact.last_default_reply_at = t.last_default_reply_at;
        contact.muted_until = t.muted_until;
        contact.opt_out_hint_at = t.opt_out_hint_at;
    }
    if d.end_session.is_some() {
        *session = None;
    }
    if let Some(w) = d.session {
        *session = w.ended.is_none().then_some(ActiveSession {
            id: 1,
            state: w.state,
        });
    }
}

/// One message in the chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bubble {
    /// `in` from the resident, `out` from the gateway.
    pub direction: &'static str,
    pub text: String,
    pub segments: u32,
    /// `GSM-7` or `UCS-2`.
    pub encoding: &'static str,
}

fn bubble(direction: &'static str, text: &str) -> Bubble {
    let c = segments::count(text);
    Bubble {
        direction,
        text: text.to_string(),
        segments: c.segments,
        encoding: c.encoding.as_str(),
    }
}

/// The conversation with `flow` at `version` after the resident texted `texts`; whether it is
/// still going.
pub fn replay(
    flows: &FlowSet,
    replies: &Replies,
    flow: &crate::flow::model::Flow,
    lang: Option<&str>,
    texts: &[String],
) -> (Vec<Bubble>, bool) {
    let now = Gateway::now();
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let no_fields = BTreeMap::new();
    let mut entropy = 1u64;
    let first = engine::start(
        flow,
        lang,
        &Context {
            now,
            today,
            contact: &no_fields,
            entropy,
        },
    );
    let mut chat = Vec::new();
    let mut contact = Contact {
        id: 1,
        phone: "+15005550006".into(),
        language: lang.map(str::to_string),
        fields: BTreeMap::new(),
        opted_out: false,
        unmatched_count: 0,
        unmatched_since: None,
        last_default_reply_at: None,
        muted_until: None,
        opt_out_hint_at: None,
    };
    for e in &first.effects {
        match e {
            Effect::Send { text } => chat.push(bubble("out", text)),
            Effect::SetContact { field, value } => {
                contact.fields.insert(field.clone(), value.clone());
            }
            _ => {}
        }
    }
    let mut session = (first.status == Status::Waiting).then_some(ActiveSession {
        id: 1,
        state: first.session,
    });
    let rules = dispatch::ThrottleRules::default();
    for text in texts {
        chat.push(bubble("in", text));
        entropy += 1;
        let snapshot = Snapshot {
            contact: Some(contact.clone()),
            session: session.clone(),
        };
        let input = dispatch::Input {
            text,
            media: &[],
            now,
            today,
            entropy,
            provider_command: None,
            request: None,
        };
        let d = dispatch::decide(flows, replies, &rules, &snapshot, &input);
        for r in &d.replies {
            chat.push(bubble("out", r));
        }
        apply(&mut contact, &mut session, d);
    }
    (chat, session.is_some())
}

/// The simulator's form: the flow, version and language, the texts typed so far (one per
/// `said` field), and the new text.
#[derive(Debug, Default, Deserialize)]
pub struct SimQuery {
    #[serde(default)]
    pub flow: String,
    #[serde(default)]
    pub lang: String,
}

#[derive(Template)]
#[template(path = "simulator.html")]
struct SimPage {
    layout: Layout,
    /// (value `id@version`, label).
    versions: Vec<(String, String)>,
    selected: String,
    lang: String,
    chat: Vec<Bubble>,
    said: Vec<String>,
    going: bool,
    title: String,
    /// The flow whose unpublished draft is being tried (empty: a published version).
    draft_flow: String,
    /// The draft's text, carried by the page's forms.
    draft_source: String,
}

fn version_list(flows: &FlowSet) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in flows.catalog().flows() {
        out.push((
            format!("{}@{}", f.id, f.version),
            format!("{} (current version {})", f.id, f.version),
        ));
    }
    for (id, version) in flows.known_versions() {
        let key = format!("{id}@{version}");
        if !out.iter().any(|(k, _)| *k == key) {
            out.push((key, format!("{id} (earlier version {version})")));
        }
    }
    out
}

async fn render(
    state: &AppState,
    staff: &super::session::Staff,
    selected: &str,
    lang: &str,
    said: Vec<String>,
    draft: Option<(String, String)>,
) -> Result<Response, ConsoleError> {
    if let Some((flow_id, source)) = draft {
        return render_draft(state, staff, flow_id, source, lang, said).await;
    }
    let flows = state.gateway.flows();
    let versions = version_list(&flows);
    let selected = if selected.is_empty() {
        versions.first().map(|(k, _)| k.clone()).unwrap_or_default()
    } else {
        selected.to_string()
    };
    let flow = selected
        .split_once('@')
        .and_then(|(id, v)| flows.version(id, v));
    let (chat, going, title) = match &flow {
        Some(f) => {
            let lang = (!lang.is_empty()).then_some(lang);
            let (chat, going) = replay(&flows, &state.gateway.replies, f, lang, &said);
            (chat, going, f.title.clone())
        }
        None if selected.is_empty() => (Vec::new(), false, String::new()),
        None => {
            return Err(ConsoleError::NotFound(
                "There is no such flow version.".into(),
            ));
        }
    };
    page(&SimPage {
        layout: Layout::new(staff, "Simulator", "simulator"),
        versions,
        selected,
        lang: lang.to_string(),
        chat,
        said,
        going,
        title,
        draft_flow: String::new(),
        draft_source: String::new(),
    })
}

/// The simulator on an unpublished draft of `flow_id`: the draft takes that flow's place beside
/// the published flows, in memory only.
async fn render_draft(
    state: &AppState,
    staff: &super::session::Staff,
    flow_id: String,
    source: String,
    lang: &str,
    said: Vec<String>,
) -> Result<Response, ConsoleError> {
    let published = state.gateway.store.published_flows().await?;
    let name = published
        .iter()
        .find(|(r, _)| r.flow_id == flow_id)
        .map(|(r, _)| super::flows::display_name(&r.source.name).to_string())
        .unwrap_or_else(|| format!("{flow_id}.yaml"));
    let source = source.replace("\r\n", "\n");
    let (id, text) = (flow_id.clone(), source.clone());
    let checked = tokio::task::spawn_blocking(move || {
        super::editor::check_draft(&published, &id, &name, &text)
    })
    .await
    .map_err(|e| ConsoleError::BadRequest(format!("the draft could not be checked: {e}")))?;
    let Some(flow) = checked.flow.clone() else {
        let first = checked
            .problems
            .iter()
            .find(|p| p.severity == "error")
            .map(|p| p.rendered.clone())
            .unwrap_or_default();
        return Err(ConsoleError::BadRequest(format!(
            "The draft has {} error(s), so it cannot be tried yet. Go back to the editor and fix \
             them; the first is:\n{first}",
            checked.errors()
        )));
    };
    let flows = FlowSet::new(checked.catalog, []);
    let lang_opt = (!lang.is_empty()).then_some(lang);
    let (chat, going) = replay(&flows, &state.gateway.replies, &flow, lang_opt, &said);
    page(&SimPage {
        layout: Layout::new(staff, "Simulator", "simulator"),
        versions: vec![(
            format!("{flow_id}@draft"),
            format!("{flow_id} (unpublished draft)"),
        )],
        selected: format!("{flow_id}@draft"),
        lang: lang.to_string(),
        chat,
        said,
        going,
        title: flow.title.clone(),
        draft_flow: flow_id,
        draft_source: source,
    })
}

/// `GET /console/simulator?flow=ID@VERSION&lang=es`: a fresh conversation.
pub async fn page_get(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Simulator>,
    Query(q): Query<SimQuery>,
) -> Result<Response, ConsoleError> {
    render(&state, &staff, &q.flow, q.lang.trim(), Vec::new(), None).await
}

/// `POST /console/simulator`: the resident texts one more message.
pub async fn turn(
    State(state): State<AppState>,
    Signed(staff, _): Signed<gates::Simulator>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut said: Vec<String> = fields
        .iter()
        .filter(|(k, _)| k == "said")
        .map(|(_, v)| v.clone())
        .collect();
    let text = get("text");
    if !text.trim().is_empty() {
        said.push(text.chars().take(MAX_TEXT_CHARS).collect());
    }
    if said.len() > MAX_TEXTS {
        return Err(ConsoleError::BadRequest(format!(
            "A simulated conversation may have at most {MAX_TEXTS} texts. Start a new one."
        )));
    }
    // From the editor's "Try in simulator" (and this page's forms while trying a draft): the
    // draft's text and the flow it is a draft of.
    let draft_of = get("draft_of");
    let draft = (!draft_of.is_empty()).then(|| (draft_of, get("source")));
    render(
        &state,
        &staff,
        &get("flow"),
        get("lang").trim(),
        said,
        draft,
    )
    .await
}
