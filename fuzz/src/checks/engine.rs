//! The engine, run over random flows (built from a menu of every kind of step, question type,
//! condition and jump, then compiled) with random replies.

use std::collections::BTreeMap;

use arbitrary::{Result, Unstructured};
use civictext::flow::engine::{self, Media};
use civictext::flow::model::{AnswerKind, StepKind};
use civictext::flow::{Context, Effect, Flow, Inbound, Outcome, Session, Status, compile};

/// At most this many replies per conversation: enough to pass every step of the largest
/// generated flow a few times over.
const MAX_REPLIES: usize = 24;

pub fn check(data: &[u8]) {
    let Some(case) = Case::read(data) else {
        return;
    };
    let Some(flow) = compile("fuzz.yaml", &case.source).flow else {
        return;
    };
    let replies = case.replies(&flow);
    converse(
        &flow,
        case.language,
        &case.contact,
        replies.iter().map(String::as_str),
    );
}

/// The flow an input generates, if it compiles: the replay test checks that most inputs get past
/// the compiler, so the engine is really exercised.
pub fn flow(data: &[u8]) -> Option<Flow> {
    compile("fuzz.yaml", &Case::read(data)?.source).flow
}

/// What an input means, for reading a crash: the generated flow file, the resident's profile
/// and language, and the replies.
pub fn describe(data: &[u8]) -> String {
    let Some(case) = Case::read(data) else {
        return "(too short for a flow)".into();
    };
    let compiled = compile("fuzz.yaml", &case.source);
    let mut out = format!(
        "{}
contact: {:?}
language: {:?}
",
        case.source, case.contact, case.language
    );
    match &compiled.flow {
        Some(flow) => out.push_str(&format!("replies: {:?}\n", case.replies(flow))),
        None => {
            for d in &compiled.report.items {
                out.push_str(&d.render(Some(&case.source)));
                out.push('\n');
            }
        }
    }
    out
}

/// One generated case: a flow file, who is texting, and the bytes left for their replies.
struct Case<'a> {
    source: String,
    contact: BTreeMap<String, String>,
    language: Option<&'static str>,
    rest: &'a [u8],
}

impl<'a> Case<'a> {
    fn read(data: &'a [u8]) -> Option<Self> {
        let mut u = Unstructured::new(data);
        let source = flow_source(&mut u).ok()?;
        let contact = contact(&mut u).ok()?;
        let language = match u.int_in_range(0..=2u8).unwrap_or(0) {
            0 => None,
            1 => Some("en"),
            _ => Some("es"),
        };
        Some(Self {
            source,
            contact,
            language,
            rest: u.take_rest(),
        })
    }

    /// The replies, drawn mostly from words the flow invites.
    fn replies(&self, flow: &Flow) -> Vec<String> {
        let mut u = Unstructured::new(self.rest);
        let words = words(flow);
        let mut replies = Vec::new();
        while replies.len() < MAX_REPLIES && !u.is_empty() {
            let reply = if u.ratio(3, 4).unwrap_or(true) {
                u.choose(&words).cloned()
            } else {
                u.arbitrary::<String>()
            };
            match reply {
                Ok(r) => replies.push(r),
                Err(_) => break,
            }
        }
        replies
    }
}

/// Starts `flow` and gives it `replies` one by one, checking every outcome.
pub fn converse<'a>(
    flow: &Flow,
    language: Option<&str>,
    contact: &BTreeMap<String, String>,
    replies: impl IntoIterator<Item = &'a str>,
) {
    let ctx = Context {
        now: jiff::Timestamp::from_second(1_780_315_200).expect("a valid time"),
        today: jiff::civil::date(2026, 6, 1),
        contact,
        entropy: 0x5eed_cafe,
    };
    let mut outcome = engine::start(flow, language, &ctx);
    check_outcome(flow, &outcome, None, &ctx);
    let photo = [Media {
        url: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1".into(),
        content_type: "image/jpeg".into(),
    }];
    for (n, text) in replies.into_iter().enumerate() {
        if outcome.status != Status::Waiting {
            break;
        }
        let waiting_on = match &flow.steps[outcome.session.position].kind {
            StepKind::Ask(q) => q.id.clone(),
            _ => unreachable!("checked by check_outcome"),
        };
        let media: &[Media] = if n % 3 == 2 { &photo } else { &[] };
        let inbound = Inbound { text, media };
        // The session is stored as JSON between texts: what comes back must be the same.
        let json = serde_json::to_string(&outcome.session).expect("a session serialises");
        let stored: Session = serde_json::from_str(&json).expect("a stored session reads back");
        assert_eq!(
            stored, outcome.session,
            "the session changed through JSON: {json}"
        );
        let replay = engine::step(flow, stored, &inbound, &ctx);
        outcome = engine::step(flow, outcome.session, &inbound, &ctx);
        assert_eq!(replay, outcome, "the same text gave two different outcomes");
        check_outcome(flow, &outcome, Some(&waiting_on), &ctx);
    }
}

/// What a resident can rely on after every start or step.
fn check_outcome(flow: &Flow, outcome: &Outcome, waiting_on: Option<&str>, ctx: &Context) {
    let texts: Vec<&str> = outcome.texts().collect();
    for t in &texts {
        let n = t.chars().count();
        assert!(n <= 1600, "a text of {n} characters");
        assert!(!t.trim().is_empty(), "an empty text was sent");
    }
    let session = &outcome.session;
    assert_eq!(session.flow, flow.id);
    assert!(
        flow.languages.contains(&session.language),
        "the session speaks {:?}, which the flow does not",
        session.language
    );
    match outcome.status {
        Status::Waiting => {
            assert!(
                matches!(
                    flow.steps.get(session.position).map(|s| &s.kind),
                    Some(StepKind::Ask(_))
                ),
                "waiting at step {}, which is not a question",
                session.position
            );
            assert!(
                !texts.is_empty(),
                "waiting for an answer without having said anything"
            );
            let expected = flow.expires_after.and_then(|d| ctx.now.checked_add(d).ok());
            assert_eq!(session.expires_at, expected);
        }
        Status::Completed => assert_eq!(session.expires_at, None),
        Status::Failed => panic!("a flow that compiles ran away: {texts:?}"),
    }
    let answers: Vec<_> = outcome
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Answer(a) => Some(a),
            _ => None,
        })
        .collect();
    assert!(
        answers.len() <= 1,
        "one text answered {} questions",
        answers.len()
    );
    for a in answers {
        assert_eq!(
            Some(a.question.as_str()),
            waiting_on,
            "an answer to the wrong question"
        );
        let q = flow
            .question(&a.question)
            .expect("an answer to a real question");
        if a.category == "skipped" {
            assert!(q.optional, "`{}` was skipped but is not optional", q.id);
        } else if let AnswerKind::Choice(c) | AnswerKind::Language(c) = &q.kind {
            assert!(c.keys.contains(&a.value), "{:?} is no choice", a.value);
        }
        assert_eq!(
            session.answers.get(&a.question).map(|g| &g.value),
            Some(&a.value)
        );
    }
}

/// Words the flow invites, plus the usual suspects.
fn words(flow: &Flow) -> Vec<String> {
    let mut words: Vec<String> = [
        "yes",
        "no",
        "sí",
        "SKIP",
        "1",
        "2",
        "3",
        "7",
        "0",
        "-1",
        "4.5",
        "40202",
        "tomorrow",
        "12/5",
        "502-555-0123",
        "me@example.org",
        "Main St & 4th St",
        "help",
        "",
        " ",
        "{{q1}}",
        "😀",
        "AB12",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for q in flow.questions() {
        if let AnswerKind::Choice(c) | AnswerKind::Language(c) = &q.kind {
            words.extend(c.keys.iter().cloned());
        }
    }
    words
}

fn contact(u: &mut Unstructured) -> Result<BTreeMap<String, String>> {
    let mut contact = BTreeMap::new();
    if u.arbitrary()? {
        contact.insert("zip".to_string(), "40202".to_string());
    }
    if u.arbitrary()? {
        let language = *u.choose(&["en", "es", "fr"])?;
        contact.insert("language".to_string(), language.to_string());
    }
    Ok(contact)
}

const TEXTS: &[&str] = &[
    "Hello!",
    "How old are you?",
    "Thanks, {{Q}}!",
    "You said {{Q}}; ZIP {{contact.zip}}.",
    "Pick one:",
    "Où? ¿Dónde? 😀",
    "Your ZIP: {{contact.zip}}",
];

const TYPES: &[&str] = &[
    "choice", "yes_no", "number", "integer", "text", "pattern", "date", "phone", "email", "photo",
    "location", "language",
];

const CONDITIONS: &[&str] = &[
    "Q is set",
    "Q is not set",
    "Q == a0",
    "Q != a1",
    "Q <= 2",
    "Q in [a0, a2]",
    "Q == yes or contact.zip is set",
    "contact.zip is not set and Q > 1",
    "contact.zip is set",
];

/// What each generated step is.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Say,
    Goto,
    Branch,
    End,
    FileRequest,
    Ask,
}

/// Builds flow files from the fuzzer's choices.
struct Generator<'u, 'a> {
    u: &'u mut Unstructured<'a>,
    spanish: bool,
    steps: u8,
    /// The step numbers that are questions, for placeholders and conditions.
    questions: Vec<u8>,
    files_request: bool,
}

/// A flow file built from the fuzzer's choices: any number of steps of any kind, with jumps,
/// conditions and placeholders that mostly refer to real steps (and sometimes not, which the
/// compiler must report).
fn flow_source(u: &mut Unstructured) -> Result<String> {
    let spanish = u.arbitrary::<bool>()?;
    let mut s = String::from("flow: fuzz\ntitle: Fuzz\nkeywords:\n  en: [FUZZ]\n");
    if spanish {
        s.push_str("  es: [FUZZES]\nlanguages: [en, es]\n");
    }
    if u.arbitrary::<bool>()? {
        s.push_str("expires_after: 1h\n");
    }
    if u.arbitrary::<bool>()? {
        s.push_str("interruptible: false\n");
    }
    s.push_str("steps:\n");
    let steps = u.int_in_range(1..=10u8)?;
    let mut kinds = Vec::new();
    for _ in 0..steps {
        kinds.push(match u.int_in_range(0..=31u8)? {
            0..=3 => Kind::Say,
            4 => Kind::Goto,
            5..=6 => Kind::Branch,
            7 => Kind::End,
            8..=9 => Kind::FileRequest,
            _ => Kind::Ask,
        });
    }
    let questions = (1..=steps)
        .filter(|&i| kinds[usize::from(i - 1)] == Kind::Ask)
        .collect();
    let files_request = kinds.contains(&Kind::FileRequest);
    let mut g = Generator {
        u,
        spanish,
        steps,
        questions,
        files_request,
    };
    for (i, kind) in (1..=steps).zip(kinds) {
        g.step(&mut s, i, kind)?;
    }
    Ok(s)
}

impl Generator<'_, '_> {
    fn step(&mut self, s: &mut String, i: u8, kind: Kind) -> Result<()> {
        let target = self.step_ref()?;
        match kind {
            Kind::Say => s.push_str(&format!("  - say: {}\n", self.text()?)),
            Kind::Goto => s.push_str(&format!("  - goto: {target}\n")),
            Kind::Branch => s.push_str(&format!(
                "  - branch:\n      - if: {}\n        goto: {target}\n",
                self.condition()?
            )),
            Kind::End => s.push_str(&format!("  - end: {}\n", self.text()?)),
            Kind::FileRequest => s.push_str(&format!(
                "  - file_request:\n      service: pothole\n      location: \"{{{{{}}}}}\"\n",
                self.question_ref()?
            )),
            Kind::Ask => return self.ask(s, i),
        }
        s.push_str(&format!("    id: q{i}\n"));
        if self.u.ratio(1, 4)? {
            s.push_str(&format!("    when: {}\n", self.condition()?));
        }
        Ok(())
    }

    fn ask(&mut self, s: &mut String, i: u8) -> Result<()> {
        let kind = *self.u.choose(TYPES)?;
        s.push_str(&format!("  - ask: q{i}\n    text: {}\n", self.text()?));
        match kind {
            "choice" => {
                s.push_str("    choices:\n");
                for k in 0..self.u.int_in_range(1..=4u8)? {
                    let es = if self.spanish {
                        format!(", es: Opción {k}")
                    } else {
                        String::new()
                    };
                    s.push_str(&format!(
                        "      a{k}: {{ en: Option {k}{es}, also: [opt{k}, \"{k} please\"] }}\n"
                    ));
                }
            }
            "number" | "integer" => {
                let lo = self.u.int_in_range(-5..=5i32)?;
                let hi = self.u.int_in_range(-5..=50i32)?;
                s.push_str(&format!("    type: {kind}\n    range: {lo}..{hi}\n"));
            }
            "text" => {
                let min = self.u.int_in_range(0..=5u16)?;
                let max = self.u.int_in_range(0..=400u16)?;
                s.push_str(&format!(
                    "    type: text\n    min_length: {min}\n    max_length: {max}\n"
                ));
            }
            "pattern" => {
                let pattern =
                    *self
                        .u
                        .choose(&["'\\d{5}'", "'[A-Z]{2}\\d+'", "'.*'", "'(a|b)+'"])?;
                s.push_str(&format!("    type: pattern\n    pattern: {pattern}\n"));
            }
            "location" => {
                let confirm = self.u.arbitrary::<bool>()?;
                s.push_str(&format!("    type: location\n    confirm: {confirm}\n"));
            }
            other => s.push_str(&format!("    type: {other}\n")),
        }
        if self.u.arbitrary::<bool>()? {
            s.push_str("    optional: true\n");
        }
        if self.u.arbitrary::<bool>()? {
            s.push_str(&format!(
                "    attempts: {}\n",
                self.u.int_in_range(1..=4u8)?
            ));
        }
        match self.u.int_in_range(0..=3u8)? {
            0 => s.push_str("    on_fail: end\n"),
            1 => s.push_str(&format!("    on_fail: {}\n", self.step_ref()?)),
            _ => {}
        }
        if self.u.ratio(1, 4)? {
            s.push_str(&format!("    retry: {}\n", self.text()?));
        }
        if self.u.ratio(1, 5)? {
            s.push_str("    save_as: zip\n");
        }
        if self.u.ratio(1, 4)? {
            let next = self.step_ref()?;
            if kind == "yes_no" {
                s.push_str(&format!("    next:\n      yes: {next}\n"));
            } else {
                s.push_str(&format!("    next: {next}\n"));
            }
        }
        if self.u.ratio(1, 4)? {
            s.push_str(&format!("    when: {}\n", self.condition()?));
        }
        Ok(())
    }

    /// A step to jump to; now and then one past the last, which does not exist.
    fn step_ref(&mut self) -> Result<String> {
        Ok(format!(
            "q{}",
            self.u
                .int_in_range(1..=self.steps + 1)?
                .min(if self.u.ratio(1, 16)? {
                    self.steps + 1
                } else {
                    self.steps
                },)
        ))
    }

    /// A question to read from; a made-up one when there are none.
    fn question_ref(&mut self) -> Result<String> {
        if self.questions.is_empty() {
            return Ok("q0".into());
        }
        Ok(format!("q{}", self.u.choose(&self.questions)?))
    }

    fn one_text(&mut self) -> Result<String> {
        let mut t = (*self.u.choose(TEXTS)?).to_string();
        if t.contains("{{Q}}") {
            t = t.replace("{{Q}}", &format!("{{{{{}}}}}", self.question_ref()?));
        }
        if self.files_request && self.u.ratio(1, 4)? {
            t.push_str(" Code: {{tracking_code}}");
        }
        Ok(t)
    }

    fn text(&mut self) -> Result<String> {
        let en = self.one_text()?;
        Ok(if self.spanish {
            let es = self.one_text()?;
            format!("{{ en: \"{en}\", es: \"{es}\" }}")
        } else {
            format!("\"{en}\"")
        })
    }

    fn condition(&mut self) -> Result<String> {
        let template = *self.u.choose(CONDITIONS)?;
        let question = self.question_ref()?;
        Ok(template.replace('Q', &question))
    }
}
