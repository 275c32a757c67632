//! A checked, ready-to-run flow. Built only by [`super::compile`], so the engine can trust it:
//! every step reference resolves, every text has every language, every pattern compiles.

use std::collections::HashMap;

use regex::Regex;

use super::answers::choice::ChoiceSet;
use super::answers::date::DateOrder;
use super::answers::number::Range;
use super::condition::Condition;
use super::diagnostics::Pos;
use super::template::Template;

/// A conversation flow.
#[derive(Debug)]
pub struct Flow {
    /// The flow's id (`flow:` in the file), e.g. `parks-survey`.
    pub id: String,
    pub title: String,
    /// A short digest of the file's contents: answers record the version they were given to.
    pub version: String,
    /// The file it came from.
    pub source: String,
    /// Declared languages; the first is the default.
    pub languages: Vec<String>,
    pub keywords: Vec<Keyword>,
    /// An unanswered session ends quietly after this long.
    pub expires_after: Option<jiff::SignedDuration>,
    /// The flow-wide reminder (`remind_after:` and `reminder:` at the top), as written; each
    /// question's own [`Question::reminder`] is what the engine uses.
    pub reminder: Option<Reminder>,
    /// Sent when a session expires unanswered (`on_expire:`); None: it ends quietly.
    pub on_expire: Option<Text>,
    /// Where `on_expire:` is written, for the cost table.
    pub on_expire_pos: Pos,
    /// Whether another flow's keyword may interrupt a session of this flow.
    pub interruptible: bool,
    /// Default region for phone answers (ISO 3166 code such as `US`).
    pub region: String,
    pub date_order: DateOrder,
    pub steps: Vec<Step>,
    pub(crate) questions: HashMap<String, usize>,
}

impl Flow {
    /// The default language (the first declared).
    pub fn default_language(&self) -> &str {
        &self.languages[0]
    }

    /// `lang` if the flow speaks it, else the default language.
    pub fn language_or_default<'a>(&'a self, lang: Option<&'a str>) -> &'a str {
        match lang {
            Some(l) if self.languages.iter().any(|x| x == l) => l,
            _ => self.default_language(),
        }
    }

    /// The question with this id.
    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions
            .get(id)
            .and_then(|&i| match &self.steps[i].kind {
                StepKind::Ask(q) => Some(q.as_ref()),
                _ => None,
            })
    }

    /// Every service code this flow's `file_request` steps can file, in file order, each
    /// with its label in the default language when it has one: a literal `service:`, or each
    /// key of the choice question a `service: "{{issue.value}}"` names.
    pub fn services(&self) -> Vec<(String, Option<String>)> {
        let mut out: Vec<(String, Option<String>)> = Vec::new();
        let lang = self.default_language();
        for step in &self.steps {
            let StepKind::FileRequest(spec) = &step.kind else {
                continue;
            };
            let found: Vec<(String, Option<String>)> = match spec.service.only_var() {
                Some(super::template::Var::AnswerValue(id)) => match self.question(id) {
                    Some(Question {
                        kind: AnswerKind::Choice(c),
                        ..
                    }) => c
                        .keys
                        .iter()
                        .zip(&c.labels)
                        .map(|(k, l)| (k.clone(), Some(l.get(lang).render(|_| None))))
                        .collect(),
                    _ => Vec::new(),
                },
                Some(_) => Vec::new(),
                None => vec![(spec.service.source().trim().to_string(), None)],
            };
            for (code, label) in found {
                if !code.is_empty() && !out.iter().any(|(c, _)| *c == code) {
                    out.push((code, label));
                }
            }
        }
        out
    }

    /// Every question, in file order.
    pub fn questions(&self) -> impl Iterator<Item = &Question> {
        self.steps.iter().filter_map(|s| match &s.kind {
            StepKind::Ask(q) => Some(q.as_ref()),
            _ => None,
        })
    }
}

/// A keyword that starts a flow, in canonical form (see [`crate::sms::fold::keyword`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyword {
    pub word: String,
    /// The keyword as staff spelled it, folded ([`crate::sms::fold::spelling`]): `BIKE LANE`
    /// for `Bike lane`. A text spelled like this or like `word` is the keyword itself.
    pub spelled: String,
    /// The language the flow starts in when this keyword is used (None: the contact's own).
    pub language: Option<String>,
    pub pos: Pos,
}

/// A text in every declared language.
#[derive(Debug, Clone)]
pub struct Text {
    /// (language, template), in the flow's language order.
    pub by_language: Vec<(String, Template)>,
}

impl Text {
    /// The text in `lang`, falling back to the first language.
    pub fn get(&self, lang: &str) -> &Template {
        self.by_language
            .iter()
            .find(|(l, _)| l == lang)
            .or_else(|| self.by_language.first())
            .map(|(_, t)| t)
            .expect("a compiled text has at least one language")
    }
}

/// One step of a flow.
#[derive(Debug)]
pub struct Step {
    pub id: Option<String>,
    /// The step runs only when this holds; otherwise the flow moves on.
    pub when: Option<Condition>,
    pub kind: StepKind,
    pub pos: Pos,
}

/// What a step does.
#[derive(Debug)]
pub enum StepKind {
    Say(Text),
    Ask(Box<Question>),
    Goto(usize),
    Branch(Vec<(Condition, usize)>),
    End(Option<Text>),
    FileRequest(RequestSpec),
}

/// A question and how its answers are understood.
#[derive(Debug)]
pub struct Question {
    pub id: String,
    pub text: Text,
    pub kind: AnswerKind,
    pub retry: Option<Text>,
    pub attempts: u32,
    pub on_fail: OnFail,
    pub optional: bool,
    /// Contact field the answer is saved to.
    pub save_as: Option<String>,
    /// The answer that is an opt-in to texts on a topic.
    pub consent: Option<Consent>,
    /// The answer says nothing about who gave it: when the resident is forgotten (erased on
    /// request), its normalised value is kept, detached from them; other answers are removed.
    pub anonymous: bool,
    pub next: Next,
    /// The reminder sent once when this question goes unanswered: its own, else the flow's
    /// (None: no reminder, or `remind_after: never`).
    pub reminder: Option<Reminder>,
    /// True when the question gives its own `reminder:` text (the cost table lists it there).
    pub own_reminder_text: bool,
}

/// A nudge sent once when a question has gone unanswered for a while.
#[derive(Debug, Clone)]
pub struct Reminder {
    pub after: jiff::SignedDuration,
    pub text: Text,
    /// Where it is written.
    pub pos: Pos,
}

/// A question whose answer can be a resident's opt-in to unsolicited texts on a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// What the resident agrees to be texted about (`youth-events`); broadcasts name it.
    pub topic: String,
    /// The answer that consents: a choice key, or `yes`.
    pub when: String,
}

/// The answer types.
#[derive(Debug)]
pub enum AnswerKind {
    Choice(Choices),
    YesNo,
    Number {
        range: Range,
        integer: bool,
    },
    Text {
        min: Option<u32>,
        max: Option<u32>,
    },
    Pattern(Regex),
    Date,
    Phone,
    Email,
    Photo,
    Location {
        confirm: bool,
    },
    /// Picks the conversation language among the flow's languages.
    Language(Choices),
}

impl AnswerKind {
    /// The name staff write in `type:`.
    pub fn name(&self) -> &'static str {
        match self {
            AnswerKind::Choice(_) => "choice",
            AnswerKind::YesNo => "yes_no",
            AnswerKind::Number { integer: false, .. } => "number",
            AnswerKind::Number { integer: true, .. } => "integer",
            AnswerKind::Text { .. } => "text",
            AnswerKind::Pattern(_) => "pattern",
            AnswerKind::Date => "date",
            AnswerKind::Phone => "phone",
            AnswerKind::Email => "email",
            AnswerKind::Photo => "photo",
            AnswerKind::Location { .. } => "location",
            AnswerKind::Language(_) => "language",
        }
    }
}

/// The options of a choice (or language) question.
#[derive(Debug)]
pub struct Choices {
    pub keys: Vec<String>,
    pub labels: Vec<Text>,
    pub matcher: ChoiceSet,
}

/// What happens when a resident runs out of attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFail {
    /// Move on without an answer.
    Skip,
    /// End the conversation.
    End,
    /// Jump to a step.
    Goto(usize),
}

/// Where to go after a question is answered.
#[derive(Debug, Clone, Default)]
pub struct Next {
    /// Answer category (choice key, `yes`, `no`, `skipped`) → step index.
    pub by_answer: Vec<(String, usize)>,
    /// Otherwise (None: the following step).
    pub otherwise: Option<usize>,
}

impl Next {
    /// The step to go to after an answer in `category`, or None for the following one.
    pub fn target(&self, category: &str) -> Option<usize> {
        self.by_answer
            .iter()
            .find(|(c, _)| c == category)
            .map(|(_, i)| *i)
            .or(self.otherwise)
    }
}

/// A `file_request` step: each field is a template over earlier answers.
#[derive(Debug)]
pub struct RequestSpec {
    pub service: Template,
    pub description: Option<Template>,
    pub location: Option<Template>,
    pub photo: Option<Template>,
}
