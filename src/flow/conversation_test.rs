//! Conversation tests: scripted exchanges kept beside the flows (`<flow>.test.yaml`), so staff
//! and CI can prove a flow says what it should and stores what it should.
//!
//! ```yaml
//! flow: parks-survey
//! tests:
//!   - name: a weekly visitor
//!     conversation:
//!       - resident: PARKS
//!         replies:
//!           - Thanks for texting Louisville Parks!
//!           - contains: How often
//!       - resident: "1"
//!       - wait: 5h
//!         replies: [Still there? Reply to our last question, or STOP to opt out.]
//!     answers: { visits: weekly }
//!     ends: false
//! ```
//!
//! A `wait:` turn moves the simulated clock on without the resident texting; `replies` are then
//! what the gateway sends on its own meanwhile (a reminder, the `on_expire` closing text).

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;

use super::catalog::Catalog;
use super::engine::{self, Context, Effect, Inbound, Media, Status};
use super::model::Flow;
use super::precedence::{self, During};
use super::raw::S;

/// A file of conversation tests.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The flow under test (the keyword in the first text must start it).
    pub flow: S<String>,
    /// The moment the conversation happens (RFC 3339), default 2026-06-01T12:00:00Z.
    pub now: Option<S<String>>,
    pub tests: Vec<S<TestCase>>,
}

/// One scripted conversation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    /// The resident's profile before the conversation.
    #[serde(default)]
    pub given_contact: BTreeMap<String, String>,
    pub conversation: Vec<S<Turn>>,
    /// Answers stored by the end, by question id: the normalised value.
    #[serde(default)]
    pub answers: BTreeMap<String, String>,
    /// Contact fields saved by the end.
    #[serde(default)]
    pub saved: BTreeMap<String, String>,
    /// The filed service request's fields (service, description, location, photo).
    #[serde(default)]
    pub request: Option<BTreeMap<String, String>>,
    /// Whether the conversation has ended after the last text.
    pub ends: Option<bool>,
}

/// One text from the resident and what the gateway must answer, or a silence (`wait:`) and
/// what the gateway sends on its own during it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Turn {
    #[serde(default)]
    pub resident: Option<String>,
    /// How long the resident stays silent (`5h`, `1d`), instead of a text.
    #[serde(default)]
    pub wait: Option<String>,
    #[serde(default)]
    pub media: Vec<Media>,
    /// When given, exactly these replies in this order.
    pub replies: Option<Vec<Expect>>,
}

/// An expected reply.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Expect {
    Exact(String),
    Contains { contains: String },
    Matches { matches: String },
}

impl Expect {
    fn check(&self, actual: &str) -> Result<(), String> {
        match self {
            Expect::Exact(s) if s.trim() == actual.trim() => Ok(()),
            Expect::Exact(s) => Err(format!("expected exactly {s:?}")),
            Expect::Contains { contains } if actual.contains(contains.as_str()) => Ok(()),
            Expect::Contains { contains } => Err(format!("expected it to contain {contains:?}")),
            Expect::Matches { matches } => match Regex::new(matches) {
                Ok(re) if re.is_match(actual) => Ok(()),
                Ok(_) => Err(format!("expected it to match /{matches}/")),
                Err(e) => Err(format!("invalid pattern /{matches}/: {e}")),
            },
        }
    }
}

/// The result of one test case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    pub line: u32,
    /// Empty when the case passed.
    pub failures: Vec<String>,
    /// The exchange as it happened: ("resident" | "gateway" | "wait", text).
    pub transcript: Vec<(&'static str, String)>,
}

/// Parses a test file; errors carry line and column.
pub fn parse(text: &str) -> Result<TestFile, (u32, u32, String)> {
    serde_saphyr::from_str(text).map_err(|e| {
        let loc = e.location();
        let msg = e.without_snippet().to_string();
        let first = msg.lines().next().unwrap_or_default().to_string();
        (
            loc.map_or(0, |l| l.line() as u32),
            loc.map_or(0, |l| l.column() as u32),
            first,
        )
    })
}

/// Runs every case of `file` against the flows in `catalog`.
pub fn run(catalog: &Catalog, file: &TestFile) -> Vec<CaseResult> {
    let now = file
        .now
        .as_ref()
        .map(|n| n.value.parse::<jiff::Timestamp>())
        .transpose();
    file.tests
        .iter()
        .map(|case| {
            let line = case.referenced.line() as u32;
            match &now {
                Ok(now) => run_case(
                    catalog,
                    &file.flow.value,
                    now.unwrap_or(jiff::Timestamp::from_second(1_780_315_200).expect("valid")),
                    &case.value,
                    line,
                ),
                Err(e) => CaseResult {
                    name: case.value.name.clone(),
                    line,
                    failures: vec![format!("`now` is not an RFC 3339 time: {e}")],
                    transcript: vec![],
                },
            }
        })
        .collect()
}

/// Checks the texts sent against the expected ones, in order; `when` says which turn.
fn check_replies(
    failures: &mut Vec<String>,
    line: u64,
    expected: &[Expect],
    replies: &[String],
    when: &str,
) {
    for (i, e) in expected.iter().enumerate() {
        match replies.get(i) {
            Some(actual) => {
                if let Err(why) = e.check(actual) {
                    failures.push(format!(
                        "line {line}: reply {} {when}: {why}, got {actual:?}",
                        i + 1
                    ));
                }
            }
            None => failures.push(format!(
                "line {line}: expected {} replies {when}, got {}",
                expected.len(),
                replies.len()
            )),
        }
    }
    if replies.len() > expected.len() {
        failures.push(format!(
            "line {line}: expected {} replies {when}, got {}: {:?}",
            expected.len(),
            replies.len(),
            &replies[expected.len()..]
        ));
    }
}

/// What the gateway's background sweep would do for a silent resident from `from` to `until`:
/// the texts it sends (reminders, the closing text), and the session if it is still going.
/// Quiet hours are not simulated: the texts are what goes, not when.
fn sweep(
    flow: &Flow,
    mut session: engine::Session,
    from: jiff::Timestamp,
    until: jiff::Timestamp,
    contact: &BTreeMap<String, String>,
) -> (Vec<String>, Option<engine::Session>) {
    let mut texts = Vec::new();
    let mut now = from;
    // Each round clears a reminder or ends the session, so this stops.
    while let Some(at) = engine::next_due(&session).filter(|t| *t <= until) {
        now = now.max(at);
        let ctx = Context {
            now,
            today: now.to_zoned(jiff::tz::TimeZone::UTC).date(),
            contact,
            entropy: 0,
        };
        let out = engine::due(flow, session, &ctx);
        session = out.session;
        match out.due {
            engine::Due::Nothing => {}
            engine::Due::Remind { text } => texts.push(text),
            engine::Due::Expire { closing } => {
                texts.extend(closing);
                return (texts, None);
            }
        }
    }
    (texts, Some(session))
}

fn run_case(
    catalog: &Catalog,
    flow_id: &str,
    now: jiff::Timestamp,
    case: &TestCase,
    line: u32,
) -> CaseResult {
    let mut failures = Vec::new();
    let mut transcript = Vec::new();
    let mut contact = case.given_contact.clone();
    let mut answers: BTreeMap<String, String> = BTreeMap::new();
    let mut request: Option<engine::ServiceRequest> = None;
    let mut session: Option<engine::Session> = None;
    let mut ended = false;
    let Some(flow) = catalog.get(flow_id) else {
        return CaseResult {
            name: case.name.clone(),
            line,
            failures: vec![format!(
                "there is no flow `{flow_id}` (or it has errors: run `flows check`)"
            )],
            transcript,
        };
    };
    // The flow now talking: another flow's keyword can take over, as it would in the gateway.
    let mut current: &Flow = flow;
    let mut interrupted = false;
    let mut now = now;
    for (n, turn) in case.conversation.iter().enumerate() {
        let t = &turn.value;
        let line = turn.referenced.line();
        let resident = match (&t.resident, &t.wait) {
            (Some(text), None) => text.clone(),
            (None, Some(wait)) => {
                let Some(silence) = super::compile::parse_duration(wait) else {
                    failures.push(format!(
                        "line {line}: `wait: {wait}` is not a duration (write `30m`, `5h`, `2d`)"
                    ));
                    break;
                };
                transcript.push(("wait", format!("({wait} without a reply)")));
                let Some(waiting) = session.take() else {
                    failures.push(format!(
                        "line {line}: the conversation had already ended, so there is nothing to wait for"
                    ));
                    break;
                };
                let until = now.checked_add(silence).unwrap_or(now);
                let (texts, still) = sweep(current, waiting, now, until, &contact);
                now = until;
                for text in &texts {
                    transcript.push(("gateway", text.clone()));
                }
                if let Some(expected) = &t.replies {
                    check_replies(
                        &mut failures,
                        line,
                        expected,
                        &texts,
                        &format!("waiting {wait}"),
                    );
                }
                ended = still.is_none();
                session = still;
                continue;
            }
            _ => {
                failures.push(format!(
                    "line {line}: a turn is either `resident:` (a text) or `wait:` (a silence)"
                ));
                break;
            }
        };
        let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
        transcript.push(("resident", resident.clone()));
        let ctx = Context {
            now,
            today,
            contact: &contact,
            entropy: 0x5eed + n as u64,
        };
        let outcome = match session.take() {
            None if n == 0 => match catalog.by_keyword(&resident) {
                Some((f, lang)) if f.id == flow.id => engine::start(flow, lang, &ctx),
                _ => {
                    failures.push(format!(
                        "line {line}: the first text {resident:?} is not a keyword of `{flow_id}`"
                    ));
                    break;
                }
            },
            None => {
                failures.push(format!(
                    "line {line}: the conversation had already ended, but the script sends {resident:?}"
                ));
                break;
            }
            Some(s) => {
                let inbound = Inbound {
                    text: &resident,
                    media: &t.media,
                };
                match precedence::during_session(catalog, current, s, &inbound, &ctx) {
                    During::Session(outcome) => outcome,
                    During::Interrupt {
                        flow: other,
                        language,
                    } => {
                        transcript.push((
                            "gateway",
                            format!("(the keyword of `{}` ends this conversation)", other.id),
                        ));
                        interrupted = true;
                        current = other;
                        engine::start(other, language, &ctx)
                    }
                }
            }
        };
        // Answers and requests of a flow that took over are not this flow's.
        let own = !interrupted;
        let replies: Vec<String> = outcome.texts().map(str::to_string).collect();
        for r in &replies {
            transcript.push(("gateway", r.clone()));
        }
        if let Some(expected) = &t.replies {
            check_replies(
                &mut failures,
                line,
                expected,
                &replies,
                &format!("to {resident:?}"),
            );
        }
        for e in &outcome.effects {
            match e {
                Effect::Answer(a) if own => {
                    answers.insert(a.question.clone(), a.value.clone());
                }
                Effect::SetContact { field, value } => {
                    contact.insert(field.clone(), value.clone());
                }
                Effect::FileRequest(r) if own => request = Some(r.clone()),
                Effect::Answer(_) | Effect::FileRequest(_) | Effect::Send { .. } => {}
            }
        }
        ended = interrupted || outcome.status != Status::Waiting;
        if outcome.status == Status::Waiting {
            session = Some(outcome.session);
        }
    }
    for (q, want) in &case.answers {
        match answers.get(q) {
            Some(got) if got == want => {}
            Some(got) => failures.push(format!("answer `{q}`: expected {want:?}, stored {got:?}")),
            None => failures.push(format!(
                "answer `{q}`: expected {want:?}, but nothing was stored"
            )),
        }
    }
    for (f, want) in &case.saved {
        match contact.get(f) {
            Some(got) if got == want => {}
            got => failures.push(format!(
                "contact field `{f}`: expected {want:?}, got {got:?}"
            )),
        }
    }
    if let Some(fields) = &case.request {
        match &request {
            None => failures.push("expected a service request to be filed, but none was".into()),
            Some(r) => {
                for (k, want) in fields {
                    let got = match k.as_str() {
                        "service" => Some(r.service.clone()),
                        "description" => r.description.clone(),
                        "location" => r.location.clone(),
                        "photo" => r.photo.clone(),
                        _ => {
                            failures.push(format!("request field `{k}` does not exist (service, description, location, photo)"));
                            continue;
                        }
                    };
                    if got.as_deref() != Some(want.as_str()) {
                        failures.push(format!("request `{k}`: expected {want:?}, got {got:?}"));
                    }
                }
            }
        }
    }
    if let Some(want) = case.ends
        && want != ended
    {
        failures.push(if want {
            "expected the conversation to have ended, but it is still waiting for an answer".into()
        } else {
            "expected the conversation to still be going, but it ended".into()
        });
    }
    CaseResult {
        name: case.name.clone(),
        line,
        failures,
        transcript,
    }
}
