//! The engine: (flow, session, resident's text, now, contact) → (new session, effects).
//!
//! Pure. It reads no clock (time arrives in [`Context`]), does no IO and uses no randomness but
//! the `entropy` it is given, so a conversation replays identically in tests, in the simulator
//! and in the gateway.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::answers::{date, email, location, number, phone, skip, text as free_text, yesno};
use super::messages::{self, Msg};
use super::model::{AnswerKind, Flow, OnFail, Question, StepKind};
use super::render;
use super::template::Var;

/// At most this many steps run for one text, skipped ones included (RapidPro stops a sprint at
/// 100 too). A turn that needs more is stopped: see [`Status::Failed`].
pub const MAX_STEPS_PER_TURN: usize = 100;

/// At most this many texts go back in one reply; a turn that would send more is stopped.
pub const MAX_TEXTS_PER_REPLY: usize = 10;

/// What the engine needs from the world for one step.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub now: Timestamp,
    /// Today's date where the resident is, for answers like "tomorrow".
    pub today: jiff::civil::Date,
    /// The resident's profile fields (`zip`, `language`, …).
    pub contact: &'a BTreeMap<String, String>,
    /// Random bits from the caller, used for tracking codes.
    pub entropy: u64,
}

/// A picture or other attachment sent with a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    pub url: String,
    pub content_type: String,
}

/// One text from the resident.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    pub text: &'a str,
    pub media: &'a [Media],
}

/// An answer the session holds, for templates, conditions and branching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Given {
    pub value: String,
    pub category: String,
}

/// A conversation in progress. Stored between texts (as JSON), so it must stay small and its
/// fields must keep their meaning across releases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub flow: String,
    pub version: String,
    pub language: String,
    /// Index of the step waiting for an answer.
    pub position: usize,
    /// Failed attempts at the current question.
    pub attempts: u32,
    /// A location read back to the resident, waiting for YES or NO: the text the resident sent
    /// (tidied again when confirmed), so the stored answer's raw text is the address, not "yes".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_location: Option<String>,
    pub answers: BTreeMap<String, Given>,
    /// Contact fields set during this session (they win over the stored profile).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub contact: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_code: Option<String>,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// When the question waiting for an answer is due its reminder (None: no reminder due).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_at: Option<Timestamp>,
    /// The step whose reminder was sent, so a question is reminded about at most once even
    /// when a re-prompt keeps the session waiting on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminded: Option<usize>,
}

/// An answer to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnswerRecord {
    pub question: String,
    /// The resident's text as sent.
    pub raw: String,
    /// The value as understood: a choice key, `yes`, `4`, `2026-12-05`, `+15025550123`, …
    pub value: String,
    /// Choice key, `yes`/`no`, `skipped`, or the answer type.
    pub category: String,
    /// The consent topic this answer opts the resident in to, when the flow says it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_topic: Option<String>,
    /// The consent topic this answer withdraws: the question records a consent and the
    /// resident gave another answer than the consenting one ("no" to "Can we text you about
    /// ...?"). A skipped question withdraws nothing: the resident said neither yes nor no.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn_topic: Option<String>,
}

/// A service request to file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceRequest {
    pub code: String,
    pub service: String,
    pub description: Option<String>,
    pub location: Option<String>,
    pub photo: Option<String>,
}

/// Something the caller must do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Text the resident (at most 1600 characters).
    Send {
        text: String,
    },
    Answer(AnswerRecord),
    SetContact {
        field: String,
        value: String,
    },
    FileRequest(ServiceRequest),
}

/// Whether the session goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for the resident's next text.
    Waiting,
    /// The flow has ended.
    Completed,
    /// The flow ran more than [`MAX_STEPS_PER_TURN`] steps or sent more than
    /// [`MAX_TEXTS_PER_REPLY`] texts for one text, and was stopped: the conversation is over,
    /// the resident is told something went wrong, and the texts and service requests of the
    /// runaway turn are dropped (an answer the resident gave is kept).
    Failed,
}

/// The result of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub session: Session,
    pub effects: Vec<Effect>,
    pub status: Status,
}

impl Outcome {
    /// The texts to send, in order.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.effects.iter().filter_map(|e| match e {
            Effect::Send { text } => Some(text.as_str()),
            _ => None,
        })
    }
}

/// True once an unanswered session has outlived the flow's `expires_after`.
pub fn is_expired(session: &Session, now: Timestamp) -> bool {
    session.expires_at.is_some_and(|t| now >= t)
}

/// What falls due for a waiting session while the resident says nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Nothing to send or close now.
    Nothing,
    /// Send this reminder of the question waiting for an answer; the session goes on.
    Remind { text: String },
    /// The session has expired: close it, sending `closing` (the flow's `on_expire`) if any.
    Expire { closing: Option<String> },
}

/// The session after [`due`] and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueOutcome {
    /// The session to store (its reminder marked as sent), unless it expired.
    pub session: Session,
    pub due: Due,
}

/// The earliest moment something can fall due for `session` without the resident texting:
/// its reminder or its expiry.
pub fn next_due(session: &Session) -> Option<Timestamp> {
    match (session.remind_at, session.expires_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What is due for `session` at `ctx.now` while the resident has not answered: its expiry
/// (which wins: a reminder of an expired conversation would ask for an answer nobody takes),
/// else the reminder of the question it waits on, sent at most once per question.
pub fn due(flow: &Flow, session: Session, ctx: &Context) -> DueOutcome {
    let mut run = Run {
        flow,
        ctx,
        session,
        effects: Vec::new(),
        steps_run: 0,
    };
    if is_expired(&run.session, ctx.now) {
        run.session.remind_at = None;
        let closing = flow.on_expire.as_ref().and_then(|t| {
            let text = t.get(&run.session.language).render(|v| run.lookup(v));
            (!text.trim().is_empty()).then(|| render::limit(text))
        });
        return DueOutcome {
            session: run.session,
            due: Due::Expire { closing },
        };
    }
    if run.session.remind_at.is_none_or(|t| ctx.now < t) {
        return DueOutcome {
            session: run.session,
            due: Due::Nothing,
        };
    }
    run.session.remind_at = None;
    let position = run.session.position;
    let reminder = match flow.steps.get(position).map(|s| &s.kind) {
        Some(StepKind::Ask(q)) if run.session.reminded != Some(position) => q.reminder.as_ref(),
        _ => None,
    };
    let text = reminder
        .map(|r| r.text.get(&run.session.language).render(|v| run.lookup(v)))
        .filter(|t| !t.trim().is_empty());
    run.session.reminded = Some(position);
    DueOutcome {
        session: run.session,
        due: match text {
            Some(text) => Due::Remind {
                text: render::limit(text),
            },
            None => Due::Nothing,
        },
    }
}

/// Starts `flow` in `language` (None: the contact's language if the flow speaks it, else the
/// flow's default) and runs it up to its first question.
pub fn start(flow: &Flow, language: Option<&str>, ctx: &Context) -> Outcome {
    let lang = language
        .or_else(|| ctx.contact.get("language").map(String::as_str))
        .map(|l| flow.language_or_default(Some(l)))
        .unwrap_or_else(|| flow.default_language())
        .to_string();
    let session = Session {
        flow: flow.id.clone(),
        version: flow.version.clone(),
        language: lang,
        position: 0,
        attempts: 0,
        pending_location: None,
        answers: BTreeMap::new(),
        contact: BTreeMap::new(),
        tracking_code: None,
        started_at: ctx.now,
        updated_at: ctx.now,
        expires_at: None,
        remind_at: None,
        reminded: None,
    };
    let mut run = Run {
        flow,
        ctx,
        session,
        effects: Vec::new(),
        steps_run: 0,
    };
    let status = run.go(0);
    run.finish(status)
}

/// Gives the resident's text to the question the session is waiting on.
pub fn step(flow: &Flow, session: Session, input: &Inbound, ctx: &Context) -> Outcome {
    let mut run = Run {
        flow,
        ctx,
        session,
        effects: Vec::new(),
        steps_run: 0,
    };
    let position = run.session.position;
    let status = match flow.steps.get(position).map(|s| &s.kind) {
        Some(StepKind::Ask(q)) => run.answer(position, q, input),
        // A session stored by an older version may point past the end: nothing is waiting.
        _ => Status::Completed,
    };
    run.finish(status)
}

/// Whether the question `session` is waiting on takes `input` as its answer (a SKIP of an
/// optional question, or a place to read back, included) rather than re-prompting. Changes
/// nothing: [`step`] does the same reading when the text is given to the session.
pub fn accepts(flow: &Flow, session: &Session, input: &Inbound, ctx: &Context) -> bool {
    let Some(StepKind::Ask(q)) = flow.steps.get(session.position).map(|s| &s.kind) else {
        return false;
    };
    let mut run = Run {
        flow,
        ctx,
        session: session.clone(),
        effects: Vec::new(),
        steps_run: 0,
    };
    !matches!(run.understand(q, input), Understood::Retry(_))
}

struct Run<'f, 'c> {
    flow: &'f Flow,
    ctx: &'c Context<'c>,
    session: Session,
    effects: Vec<Effect>,
    /// Steps run for this text so far.
    steps_run: usize,
}

/// An answer as understood, or the re-prompt to send.
enum Understood {
    Value {
        value: String,
        category: String,
        /// The resident's text the value came from, when it is not the text just received
        /// (a location confirmed with YES).
        raw: Option<String>,
    },
    Retry(String),
    /// Asked the resident something on the way (a location read-back); no attempt used.
    Asked(String),
}

impl Run<'_, '_> {
    fn finish(mut self, status: Status) -> Outcome {
        self.session.updated_at = self.ctx.now;
        self.session.expires_at = match status {
            Status::Waiting => self
                .flow
                .expires_after
                .and_then(|d| self.ctx.now.checked_add(d).ok()),
            Status::Completed | Status::Failed => None,
        };
        let position = self.session.position;
        self.session.remind_at = match (status, self.flow.steps.get(position).map(|s| &s.kind)) {
            (Status::Waiting, Some(StepKind::Ask(q)))
                if self.session.reminded != Some(position) =>
            {
                q.reminder
                    .as_ref()
                    .and_then(|r| self.ctx.now.checked_add(r.after).ok())
            }
            _ => None,
        };
        Outcome {
            session: self.session,
            effects: self.effects,
            status,
        }
    }

    fn lookup(&self, var: &Var) -> Option<String> {
        match var {
            Var::TrackingCode => self.session.tracking_code.clone(),
            Var::Contact(f) => self
                .session
                .contact
                .get(f)
                .or_else(|| self.ctx.contact.get(f))
                .cloned(),
            Var::AnswerValue(id) => {
                let given = self.session.answers.get(id)?;
                Some(if given.category == "skipped" {
                    String::new()
                } else {
                    given.value.clone()
                })
            }
            Var::Answer(id) => {
                let given = self.session.answers.get(id)?;
                if given.category == "skipped" {
                    return Some(String::new());
                }
                let q = self.flow.question(id)?;
                Some(match &q.kind {
                    AnswerKind::Choice(c) | AnswerKind::Language(c) => c
                        .keys
                        .iter()
                        .position(|k| *k == given.value)
                        .map(|i| c.labels[i].get(&self.session.language).render(|_| None))
                        .unwrap_or_else(|| given.value.clone()),
                    AnswerKind::YesNo => {
                        messages::yes_no(&self.session.language, given.value == "yes").to_string()
                    }
                    _ => given.value.clone(),
                })
            }
        }
    }

    fn send(&mut self, text: String) {
        if !text.trim().is_empty() {
            self.effects.push(Effect::Send {
                text: render::limit(text),
            });
        }
    }

    fn say(&mut self, t: &super::model::Text) {
        let text = t.get(&self.session.language).render(|v| self.lookup(v));
        self.send(text);
    }

    fn condition_holds(&self, c: &super::condition::Condition) -> bool {
        use super::condition::Operand;
        c.eval(|o| match o {
            Operand::Answer(id) => self.session.answers.get(id).map(|g| g.value.as_str()),
            Operand::Contact(f) => self
                .session
                .contact
                .get(f)
                .or_else(|| self.ctx.contact.get(f))
                .map(String::as_str),
        })
    }

    /// Stops a runaway turn: keeps what the resident said, drops what the flow would have sent
    /// or filed, and says sorry.
    fn stop_runaway(&mut self) -> Status {
        self.effects
            .retain(|e| matches!(e, Effect::Answer(_) | Effect::SetContact { .. }));
        let sorry = self.hint(Msg::FlowBroken);
        self.send(sorry);
        Status::Failed
    }

    fn texts_sent(&self) -> usize {
        self.effects
            .iter()
            .filter(|e| matches!(e, Effect::Send { .. }))
            .count()
    }

    /// Runs steps from `from` until one waits for the resident or the flow ends, within the
    /// caps on steps and texts.
    fn go(&mut self, from: usize) -> Status {
        match self.walk(from) {
            Status::Failed => Status::Failed,
            _ if self.texts_sent() > MAX_TEXTS_PER_REPLY => self.stop_runaway(),
            status => status,
        }
    }

    fn walk(&mut self, from: usize) -> Status {
        let steps = &self.flow.steps;
        let mut at = from;
        // `flows check` rejects loops that can run without waiting; these caps stop one that
        // slips through (an older version, a check gap) before it floods the resident.
        loop {
            self.steps_run += 1;
            if self.steps_run > MAX_STEPS_PER_TURN || self.texts_sent() > MAX_TEXTS_PER_REPLY {
                return self.stop_runaway();
            }
            let Some(step) = steps.get(at) else {
                return Status::Completed;
            };
            if let Some(c) = &step.when
                && !self.condition_holds(c)
            {
                at += 1;
                continue;
            }
            match &step.kind {
                StepKind::Say(t) => {
                    self.say(t);
                    at += 1;
                }
                StepKind::Ask(q) => {
                    self.session.position = at;
                    self.session.attempts = 0;
                    self.session.pending_location = None;
                    let text = render::question(q, &self.session.language, |v| self.lookup(v));
                    self.send(text);
                    return Status::Waiting;
                }
                StepKind::Goto(t) => at = *t,
                StepKind::Branch(arms) => {
                    at = arms
                        .iter()
                        .find(|(c, _)| self.condition_holds(c))
                        .map_or(at + 1, |(_, t)| *t);
                }
                StepKind::End(t) => {
                    if let Some(t) = t {
                        self.say(t);
                    }
                    return Status::Completed;
                }
                StepKind::FileRequest(spec) => {
                    let code = tracking_code(self.ctx.entropy, at);
                    self.session.tracking_code = Some(code.clone());
                    let field = |t: &Option<super::template::Template>| {
                        t.as_ref()
                            .map(|t| t.render(|v| self.lookup(v)))
                            .filter(|s| !s.trim().is_empty())
                    };
                    let request = ServiceRequest {
                        code,
                        service: spec.service.render(|v| self.lookup(v)),
                        description: field(&spec.description),
                        location: field(&spec.location),
                        photo: field(&spec.photo),
                    };
                    self.effects.push(Effect::FileRequest(request));
                    at += 1;
                }
            }
        }
    }

    fn answer(&mut self, position: usize, q: &Question, input: &Inbound) -> Status {
        let understood = self.understand(q, input);
        let (value, category, raw) = match understood {
            Understood::Value {
                value,
                category,
                raw,
            } => (value, category, raw),
            Understood::Asked(text) => {
                self.send(text);
                return Status::Waiting;
            }
            Understood::Retry(hint) => {
                self.session.attempts += 1;
                self.session.pending_location = None;
                if self.session.attempts >= q.attempts {
                    return match q.on_fail {
                        OnFail::Skip => self.go(q.next.target("skipped").unwrap_or(position + 1)),
                        OnFail::Goto(t) => self.go(t),
                        OnFail::End => {
                            let text = messages::text(&self.session.language, Msg::GaveUp);
                            self.send(text.to_string());
                            Status::Completed
                        }
                    };
                }
                let retry = match &q.retry {
                    Some(t) => t.get(&self.session.language).render(|v| self.lookup(v)),
                    // An optional question says how to skip it again, or residents get stuck.
                    None if q.optional => format!("{hint} {}", self.hint(Msg::SkipHint)),
                    None => hint,
                };
                self.send(retry);
                return Status::Waiting;
            }
        };
        self.session.pending_location = None;
        let (consent_topic, withdrawn_topic) = match &q.consent {
            Some(c) if c.when == category => (Some(c.topic.clone()), None),
            Some(c) if category != "skipped" => (None, Some(c.topic.clone())),
            _ => (None, None),
        };
        self.effects.push(Effect::Answer(AnswerRecord {
            question: q.id.clone(),
            raw: raw.unwrap_or_else(|| input.text.to_string()),
            value: value.clone(),
            category: category.clone(),
            consent_topic,
            withdrawn_topic,
        }));
        if category != "skipped" {
            if let AnswerKind::Language(_) = q.kind {
                self.session.language = value.clone();
                self.set_contact("language", &value);
            }
            if let Some(field) = &q.save_as {
                self.set_contact(field, &value);
            }
        }
        self.session.answers.insert(
            q.id.clone(),
            Given {
                value,
                category: category.clone(),
            },
        );
        self.go(q.next.target(&category).unwrap_or(position + 1))
    }

    fn set_contact(&mut self, field: &str, value: &str) {
        self.session
            .contact
            .insert(field.to_string(), value.to_string());
        self.effects.push(Effect::SetContact {
            field: field.to_string(),
            value: value.to_string(),
        });
    }

    fn hint(&self, msg: Msg) -> String {
        messages::text(&self.session.language, msg).to_string()
    }

    fn understand(&mut self, q: &Question, input: &Inbound) -> Understood {
        use Understood::*;
        let reply = input.text;
        let value = |value: String, category: &str| Value {
            value,
            category: category.to_string(),
            raw: None,
        };
        if q.optional && skip::is_skip(reply) {
            return value(String::new(), "skipped");
        }
        match &q.kind {
            AnswerKind::Choice(c) | AnswerKind::Language(c) => match c.matcher.match_reply(reply) {
                Some(i) => value(c.keys[i].clone(), &c.keys[i]),
                None => {
                    let question = render::question(q, &self.session.language, |v| self.lookup(v));
                    Retry(format!("{}\n{question}", self.hint(Msg::InvalidChoice)))
                }
            },
            AnswerKind::YesNo => match yesno::parse_yes_no(reply) {
                Some(true) => value("yes".into(), "yes"),
                Some(false) => value("no".into(), "no"),
                None => Retry(self.hint(Msg::InvalidYesNo)),
            },
            AnswerKind::Number { range, integer } => {
                let parsed = if *integer {
                    number::parse_integer(reply).map(|i| i as f64)
                } else {
                    number::parse_number(reply)
                };
                match parsed {
                    Some(n) if range.contains(n) => value(format_number(n), q.kind.name()),
                    Some(_) | None => {
                        let (msg, min, max) = match (range.min, range.max) {
                            (Some(lo), Some(hi)) => (Msg::NumberBetween, lo, hi),
                            (Some(lo), None) => (Msg::NumberAtLeast, lo, 0.0),
                            (None, Some(hi)) => (Msg::NumberAtMost, 0.0, hi),
                            (None, None) if *integer => (Msg::InvalidInteger, 0.0, 0.0),
                            (None, None) => (Msg::InvalidNumber, 0.0, 0.0),
                        };
                        Retry(
                            self.hint(msg)
                                .replace("{min}", &format_number(min))
                                .replace("{max}", &format_number(max)),
                        )
                    }
                }
            }
            AnswerKind::Text { min, max } => {
                let text = free_text::clean_text(reply);
                let len = free_text::char_len(&text);
                if len == 0 {
                    Retry(self.hint(Msg::TextEmpty))
                } else if min.is_some_and(|m| len < m as usize) {
                    Retry(
                        self.hint(Msg::TextTooShort)
                            .replace("{min}", &min.unwrap_or(0).to_string()),
                    )
                } else if max.is_some_and(|m| len > m as usize) {
                    Retry(
                        self.hint(Msg::TextTooLong)
                            .replace("{max}", &max.unwrap_or(0).to_string()),
                    )
                } else {
                    value(text, "text")
                }
            }
            AnswerKind::Pattern(re) => {
                // A ZIP typed on an Arabic or fullwidth keyboard is the same ZIP: the pattern
                // sees, and the store keeps, ASCII digits.
                let text = crate::sms::digits::ascii_digits(reply.trim());
                if re.is_match(&text) {
                    value(text.into_owned(), "pattern")
                } else {
                    Retry(self.hint(Msg::InvalidPattern))
                }
            }
            AnswerKind::Date => match date::parse_date(reply, self.ctx.today, self.flow.date_order)
            {
                Some(d) => value(d.to_string(), "date"),
                None => Retry(self.hint(Msg::InvalidDate)),
            },
            AnswerKind::Phone => match phone::parse_phone(reply, &self.flow.region) {
                Some(p) => value(p, "phone"),
                None => Retry(self.hint(Msg::InvalidPhone)),
            },
            AnswerKind::Email => match email::parse_email(reply) {
                Some(e) => value(e, "email"),
                None => Retry(self.hint(Msg::InvalidEmail)),
            },
            AnswerKind::Photo => {
                let urls: Vec<&str> = input
                    .media
                    .iter()
                    .filter(|m| m.content_type.starts_with("image/"))
                    .map(|m| m.url.as_str())
                    .collect();
                if urls.is_empty() {
                    Retry(self.hint(Msg::InvalidPhoto))
                } else {
                    value(urls.join(" "), "photo")
                }
            }
            AnswerKind::Location { confirm } => {
                if let Some(pending) = self.session.pending_location.clone() {
                    match yesno::parse_yes_no(reply) {
                        Some(true) => {
                            return Value {
                                value: location::parse_location(&pending)
                                    .unwrap_or_else(|| pending.clone()),
                                category: "location".into(),
                                raw: Some(pending),
                            };
                        }
                        Some(false) => {
                            self.session.pending_location = None;
                            return Asked(self.hint(Msg::LocationAgain));
                        }
                        // Anything else is taken as a corrected location.
                        None => {}
                    }
                }
                match location::parse_location(reply) {
                    Some(place) if *confirm => {
                        self.session.pending_location = Some(reply.to_string());
                        Asked(self.hint(Msg::ConfirmLocation).replace("{value}", &place))
                    }
                    Some(place) => value(place, "location"),
                    None => Retry(self.hint(Msg::InvalidLocation)),
                }
            }
        }
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A tracking code residents can read out on the phone: 8 characters of Crockford base-32
/// (no I, L, O, U), as `XXXX-XXXX`, derived from the caller's entropy and the step.
pub fn tracking_code(entropy: u64, step: usize) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    // splitmix64, so that two request steps in one conversation get different codes.
    let mut z = entropy.wrapping_add((step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let mut out = String::with_capacity(9);
    for i in 0..8 {
        if i == 4 {
            out.push('-');
        }
        out.push(ALPHABET[((z >> (i * 5)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_codes_are_readable_and_differ_by_entropy_and_step() {
        let a = tracking_code(1, 3);
        assert_eq!(a.len(), 9);
        assert_eq!(a.as_bytes()[4], b'-');
        assert!(
            a.chars()
                .all(|c| c == '-' || (c.is_ascii_alphanumeric() && !"ILOU".contains(c)))
        );
        assert_ne!(a, tracking_code(2, 3));
        assert_ne!(a, tracking_code(1, 4));
    }

    /// A flow that passes the check, then rewired by hand into `rewire`'s shape, as an older
    /// version or a gap in the check could leave it.
    fn rewired(source: &str, rewire: impl FnOnce(&mut Flow)) -> Flow {
        let mut flow = crate::flow::compile("f.yaml", source)
            .flow
            .expect("the flow compiles");
        rewire(&mut flow);
        flow
    }

    fn ctx_at(contact: &BTreeMap<String, String>) -> Context<'_> {
        Context {
            now: Timestamp::from_second(1_800_000_000).unwrap(),
            today: jiff::civil::date(2027, 1, 15),
            contact,
            entropy: 1,
        }
    }

    #[test]
    fn a_loop_that_never_waits_is_stopped_after_the_step_cap_with_one_apology() {
        let source = "flow: f\nkeywords: [F]\nsteps:\n  - file_request:\n      service: pothole\n  - ask: q\n    when: contact.zip is set\n    type: yes_no\n    text: Again?\n  - say: Thanks!\n";
        // The `say` jumps back to the request: no zip, so the question is never asked.
        let flow = rewired(source, |f| f.steps[2].kind = StepKind::Goto(0));
        let empty = BTreeMap::new();
        let out = start(&flow, None, &ctx_at(&empty));
        assert_eq!(out.status, Status::Failed);
        assert_eq!(
            out.texts().collect::<Vec<_>>(),
            ["Sorry, something went wrong on our side. Please try again later."]
        );
        assert!(
            !out.effects
                .iter()
                .any(|e| matches!(e, Effect::FileRequest(_))),
            "no request of a runaway turn is filed"
        );
    }

    #[test]
    fn a_turn_that_would_send_more_than_the_text_cap_is_stopped() {
        let mut source = String::from("flow: f\nkeywords: [F]\nlanguages: [es]\nsteps:\n");
        // As many texts before the question as the cap allows in all: with the question, one too many.
        for i in 0..MAX_TEXTS_PER_REPLY {
            source.push_str(&format!("  - say: Mensaje {i}\n"));
        }
        source.push_str("  - ask: q\n    type: yes_no\n    text: ¿Sí?\n");
        let flow = rewired(&source, |_| {});
        let empty = BTreeMap::new();
        let out = start(&flow, None, &ctx_at(&empty));
        assert_eq!(out.status, Status::Failed);
        assert_eq!(
            out.texts().collect::<Vec<_>>(),
            ["Perdón, algo salió mal de nuestro lado. Intente más tarde."]
        );
        // One text fewer fits.
        let fits = source.replacen("  - say: Mensaje 0\n", "", 1);
        let flow = rewired(&fits, |_| {});
        let out = start(&flow, None, &ctx_at(&empty));
        assert_eq!(out.status, Status::Waiting);
        assert_eq!(out.texts().count(), MAX_TEXTS_PER_REPLY);
    }

    #[test]
    fn an_answer_given_before_the_flow_runs_away_is_kept() {
        let source = "flow: f\nkeywords: [F]\nsteps:\n  - ask: q\n    type: yes_no\n    text: Yes?\n  - say: One\n  - say: Two\n";
        let flow = rewired(source, |f| f.steps[2].kind = StepKind::Goto(1));
        let empty = BTreeMap::new();
        let ctx = ctx_at(&empty);
        let first = start(&flow, None, &ctx);
        let input = Inbound {
            text: "yes",
            media: &[],
        };
        let out = step(&flow, first.session, &input, &ctx);
        assert_eq!(out.status, Status::Failed);
        assert!(
            out.effects
                .iter()
                .any(|e| matches!(e, Effect::Answer(a) if a.value == "yes"))
        );
        assert_eq!(out.texts().count(), 1);
    }

    const REMINDING: &str = "flow: f\nkeywords: [F]\nlanguages: [en, es]\nexpires_after: 10h\nremind_after: 2h\nreminder: { en: Still there?, es: ¿Sigue ahí? }\non_expire: { en: \"Closed, {{contact.name}}.\", es: Cerrada. }\nsteps:\n  - ask: a\n    type: yes_no\n    text: { en: A?, es: ¿A? }\n  - ask: b\n    type: yes_no\n    text: { en: B?, es: ¿B? }\n";

    fn at(ctx: &Context, secs: i64) -> Timestamp {
        ctx.now + jiff::SignedDuration::from_secs(secs)
    }

    #[test]
    fn a_silent_question_is_reminded_about_once_and_the_session_then_expires() {
        let flow = rewired(REMINDING, |_| {});
        let contact = BTreeMap::from([("name".to_string(), "Ana".to_string())]);
        let ctx = ctx_at(&contact);
        let s = start(&flow, None, &ctx).session;
        assert_eq!(s.remind_at, Some(at(&ctx, 7200)));
        assert_eq!(next_due(&s), Some(at(&ctx, 7200)));

        let early = Context {
            now: at(&ctx, 7199),
            ..ctx.clone()
        };
        let out = due(&flow, s.clone(), &early);
        assert_eq!((out.due, out.session), (Due::Nothing, s.clone()));

        let later = Context {
            now: at(&ctx, 7200),
            ..ctx.clone()
        };
        let out = due(&flow, s, &later);
        assert_eq!(
            out.due,
            Due::Remind {
                text: "Still there?".into()
            }
        );
        assert_eq!(out.session.remind_at, None);
        assert_eq!(next_due(&out.session), Some(at(&ctx, 36_000)));

        // Not understood: the question asks again, but is not reminded about a second time.
        let retry = step(
            &flow,
            out.session,
            &Inbound {
                text: "purple",
                media: &[],
            },
            &later,
        );
        assert_eq!(retry.status, Status::Waiting);
        assert_eq!(retry.session.remind_at, None);

        let gone = Context {
            now: at(&ctx, 7200 + 36_000),
            ..ctx.clone()
        };
        let out = due(&flow, retry.session, &gone);
        assert_eq!(
            out.due,
            Due::Expire {
                closing: Some("Closed, Ana.".into())
            }
        );
    }

    #[test]
    fn an_answer_moves_the_reminder_to_the_next_question_and_expiry_wins_over_a_late_reminder() {
        let flow = rewired(REMINDING, |_| {});
        let empty = BTreeMap::new();
        let ctx = ctx_at(&empty);
        let s = start(&flow, Some("es"), &ctx).session;
        let answered_at = Context {
            now: at(&ctx, 3600),
            ..ctx.clone()
        };
        let out = step(
            &flow,
            s,
            &Inbound {
                text: "sí",
                media: &[],
            },
            &answered_at,
        );
        assert_eq!(out.session.position, 1);
        assert_eq!(out.session.remind_at, Some(at(&ctx, 3600 + 7200)));

        // The sweep was down all day: the conversation closes, with no reminder first.
        let much_later = Context {
            now: at(&ctx, 3600 + 36_000),
            ..ctx.clone()
        };
        let out = due(&flow, out.session, &much_later);
        assert_eq!(
            out.due,
            Due::Expire {
                closing: Some("Cerrada.".into())
            }
        );
    }

    #[test]
    fn a_finished_conversation_has_nothing_due() {
        let flow = rewired(REMINDING, |_| {});
        let empty = BTreeMap::new();
        let ctx = ctx_at(&empty);
        let s = start(&flow, None, &ctx).session;
        let s = step(
            &flow,
            s,
            &Inbound {
                text: "yes",
                media: &[],
            },
            &ctx,
        )
        .session;
        let out = step(
            &flow,
            s,
            &Inbound {
                text: "no",
                media: &[],
            },
            &ctx,
        );
        assert_eq!(out.status, Status::Completed);
        assert_eq!(next_due(&out.session), None);
    }

    /// The answer recorded when a resident replies `reply` to the flow's first question.
    fn answer_to(source: &str, reply: &str) -> AnswerRecord {
        let flow = rewired(source, |_| {});
        let empty = BTreeMap::new();
        let ctx = ctx_at(&empty);
        let first = start(&flow, None, &ctx);
        let input = Inbound {
            text: reply,
            media: &[],
        };
        let out = step(&flow, first.session, &input, &ctx);
        out.effects
            .into_iter()
            .find_map(|e| match e {
                Effect::Answer(a) => Some(a),
                _ => None,
            })
            .expect("the reply is recorded as an answer")
    }

    const CONSENT_YES_NO: &str = "flow: f\nkeywords: [F]\nsteps:\n  - ask: follow-up\n    type: yes_no\n    optional: true\n    consent: { topic: youth-events }\n    text: Can we text you about youth events?\n  - say: Thanks\n";

    #[test]
    fn yes_to_a_consent_question_gives_its_topic_and_withdraws_nothing() {
        let a = answer_to(CONSENT_YES_NO, "yes");
        assert_eq!(a.consent_topic.as_deref(), Some("youth-events"));
        assert_eq!(a.withdrawn_topic, None);
    }

    #[test]
    fn no_to_a_consent_question_withdraws_its_topic() {
        let a = answer_to(CONSENT_YES_NO, "no");
        assert_eq!(a.category, "no");
        assert_eq!(a.consent_topic, None);
        assert_eq!(a.withdrawn_topic.as_deref(), Some("youth-events"));
    }

    #[test]
    fn skipping_a_consent_question_neither_gives_nor_withdraws_consent() {
        let a = answer_to(CONSENT_YES_NO, "skip");
        assert_eq!(a.category, "skipped");
        assert_eq!((a.consent_topic, a.withdrawn_topic), (None, None));
    }

    #[test]
    fn any_other_choice_than_the_consenting_one_withdraws_the_topic() {
        let source = "flow: f\nkeywords: [F]\nsteps:\n  - ask: news\n    choices:\n      weekly: Weekly\n      never: Never\n    consent: { topic: park-news, when: weekly }\n    text: Park news?\n  - say: Thanks\n";
        let weekly = answer_to(source, "weekly");
        assert_eq!(
            (weekly.consent_topic.as_deref(), weekly.withdrawn_topic),
            (Some("park-news"), None)
        );
        let never = answer_to(source, "never");
        assert_eq!(
            (never.consent_topic, never.withdrawn_topic.as_deref()),
            (None, Some("park-news"))
        );
    }

    #[test]
    fn an_answer_to_a_question_without_consent_neither_gives_nor_withdraws_any() {
        let source =
            "flow: f\nkeywords: [F]\nsteps:\n  - ask: q\n    type: yes_no\n    text: Yes?\n";
        for reply in ["yes", "no"] {
            let a = answer_to(source, reply);
            assert_eq!((a.consent_topic, a.withdrawn_topic), (None, None));
        }
    }

    #[test]
    fn numbers_print_without_a_needless_decimal_point() {
        assert_eq!(format_number(4.0), "4");
        assert_eq!(format_number(4.5), "4.5");
        assert_eq!(format_number(-3.0), "-3");
    }
}
