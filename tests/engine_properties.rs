//! Whatever a resident texts, a shipped flow never crashes the engine, never leaves the resident
//! without a prompt, never sends an empty or over-long text, and only records answers to the
//! question it was waiting on.
//!
//! Runs over every flow in `conversation-flows/` (or the directory in `CIVICTEXT_FLOWS_DIR`),
//! started by each of its keywords.

use std::collections::BTreeMap;
use std::path::PathBuf;

use civictext::flow::engine::{self, Media};
use civictext::flow::model::{AnswerKind, StepKind};
use civictext::flow::{Context, Effect, Flow, Inbound, Outcome, Status};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const CASES_PER_FLOW: u32 = 256;

fn flows_dir() -> PathBuf {
    std::env::var_os("CIVICTEXT_FLOWS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conversation-flows"))
}

/// A resident's text and what came with it.
#[derive(Debug, Clone)]
struct Reply {
    text: String,
    media: Vec<Media>,
}

/// Words a flow itself invites: every choice label, synonym-like key, in every language.
fn own_words(flow: &Flow) -> Vec<String> {
    let mut words = vec![
        "yes",
        "no",
        "YES",
        "No!",
        "sí",
        "si",
        "skip",
        "SKIP",
        "1",
        "2",
        "3",
        "4",
        "5",
        "b",
        "c",
        "40202",
        "4020",
        "02-40202",
        "tomorrow",
        "12/5",
        "502-555-0123",
        "me@example.org",
        "Main St & 4th St",
        "ok",
        "help",
        "stop",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    for q in flow.questions() {
        if let AnswerKind::Choice(c) | AnswerKind::Language(c) = &q.kind {
            words.extend(c.keys.iter().cloned());
            for label in &c.labels {
                for (_, t) in &label.by_language {
                    let s = t.source();
                    words.push(s.to_uppercase());
                    words.push(format!("{s}!"));
                    words.push(s);
                }
            }
        }
    }
    words
}

fn reply(own: Vec<String>) -> impl Strategy<Value = Reply> {
    let emoji = prop::collection::vec(
        prop::sample::select(vec![
            '😀', '🚲', '👍', '🏽', '🇲', '🇽', '\u{200d}', '❤', '\u{fe0f}', ' ', '5',
        ]),
        0..40,
    )
    .prop_map(String::from_iter);
    let long = prop::sample::select(vec![
        "x".repeat(1600),
        "é".repeat(1600),
        "😜".repeat(1600),
        "no ".repeat(600),
        "1".repeat(1600),
    ]);
    let markup = prop::sample::select(vec![
        "</Message><Message to=\"+15025550000\">free SMS</Message>".to_string(),
        "<![CDATA[ ]]>&amp;&#0;".to_string(),
        "{{age}} {{contact.zip}} {{tracking_code}}".to_string(),
        "\u{0}\u{1b}[2J\r\n".to_string(),
        "' OR 1=1; --".to_string(),
    ]);
    let numbers = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (-50i64..120).prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            "4.5",
            "1e309",
            "-0",
            "NaN",
            "inf",
            "3 or 4",
            "five",
            "twenty-one",
            "0x10",
            "½",
        ])
        .prop_map(String::from),
    ];
    let text = prop_oneof![
        4 => prop::sample::select(own),
        3 => "\\PC{0,200}",
        1 => Just(String::new()),
        1 => "[ \t\r\n]{1,6}",
        1 => emoji,
        1 => long,
        1 => markup,
        2 => numbers,
    ];
    let media = prop_oneof![
        8 => Just(vec![]),
        1 => Just(vec![Media {
            url: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1".into(),
            content_type: "image/jpeg".into(),
        }]),
        1 => Just(vec![Media {
            url: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2".into(),
            content_type: "video/mp4".into(),
        }]),
    ];
    (text, media).prop_map(|(text, media)| Reply { text, media })
}

fn contact() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::sample::select(vec![
        vec![],
        vec![("language", "es")],
        vec![("language", "fr")],
        vec![("zip", "40202")],
        vec![("zip", "40202"), ("language", "en"), ("name", "Ana")],
    ])
    .prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    })
}

/// What must hold after every start or step. `waiting_on` is the question the session was
/// waiting on before this step (None for a start).
fn check_outcome(
    flow: &Flow,
    outcome: &Outcome,
    waiting_on: Option<&str>,
    ctx: &Context,
) -> Result<(), TestCaseError> {
    let texts: Vec<&str> = outcome.texts().collect();
    for t in &texts {
        let n = t.chars().count();
        prop_assert!(
            n <= 1600,
            "a text of {} characters: {:?}…",
            n,
            t.chars().take(80).collect::<String>()
        );
        prop_assert!(!t.trim().is_empty(), "an empty text was sent");
    }
    let session = &outcome.session;
    prop_assert_eq!(&session.flow, &flow.id);
    prop_assert_eq!(&session.version, &flow.version);
    prop_assert!(
        flow.languages.contains(&session.language),
        "the session speaks {:?}, which the flow does not",
        session.language
    );
    match outcome.status {
        Status::Waiting => {
            let step = flow.steps.get(session.position);
            prop_assert!(
                matches!(step.map(|s| &s.kind), Some(StepKind::Ask(_))),
                "waiting at step {}, which is not a question",
                session.position
            );
            prop_assert!(
                !texts.is_empty(),
                "waiting for an answer without having said anything"
            );
            let expected = flow.expires_after.map(|d| ctx.now.checked_add(d).unwrap());
            prop_assert_eq!(session.expires_at, expected);
        }
        Status::Completed => prop_assert_eq!(session.expires_at, None),
        Status::Failed => prop_assert!(
            false,
            "a flow that passes `flows check` ran away: {:?}",
            texts
        ),
    }
    let answers: Vec<_> = outcome
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Answer(a) => Some(a),
            _ => None,
        })
        .collect();
    prop_assert!(
        answers.len() <= 1,
        "one text answered {} questions",
        answers.len()
    );
    if waiting_on.is_none() {
        prop_assert!(
            answers.is_empty(),
            "an answer was recorded before any reply"
        );
    }
    for a in answers {
        prop_assert_eq!(Some(a.question.as_str()), waiting_on);
        let q = flow.question(&a.question);
        prop_assert!(q.is_some(), "an answer to `{}`, no question", a.question);
        let q = q.unwrap();
        if a.category == "skipped" {
            prop_assert!(q.optional, "`{}` was skipped but is not optional", q.id);
            prop_assert_eq!(&a.value, "");
        } else if let AnswerKind::Choice(c) | AnswerKind::Language(c) = &q.kind {
            prop_assert!(c.keys.contains(&a.value), "{:?} is no choice", a.value);
            prop_assert_eq!(&a.category, &a.value);
        }
        let held = session.answers.get(&a.question).map(|g| &g.value);
        prop_assert_eq!(held, Some(&a.value));
    }
    Ok(())
}

fn converse(
    flow: &Flow,
    language: Option<&str>,
    contact: &BTreeMap<String, String>,
    replies: &[Reply],
) -> Result<(), TestCaseError> {
    let now = jiff::Timestamp::from_second(1_780_315_200).unwrap();
    let ctx = Context {
        now,
        today: jiff::civil::date(2026, 6, 1),
        contact,
        entropy: 0x5eed_cafe,
    };
    let mut outcome = engine::start(flow, language, &ctx);
    check_outcome(flow, &outcome, None, &ctx)?;
    for r in replies {
        if outcome.status == Status::Completed {
            break;
        }
        let waiting_on = match &flow.steps[outcome.session.position].kind {
            StepKind::Ask(q) => q.id.clone(),
            _ => unreachable!("checked above"),
        };
        let inbound = Inbound {
            text: &r.text,
            media: &r.media,
        };
        outcome = engine::step(flow, outcome.session, &inbound, &ctx);
        check_outcome(flow, &outcome, Some(&waiting_on), &ctx)?;
    }
    Ok(())
}

#[test]
fn no_reply_can_crash_a_shipped_flow_or_leave_the_resident_without_a_prompt() {
    let (catalog, checks) = civictext::flows_dir::load(&flows_dir()).expect("read flows");
    for c in &checks {
        assert!(
            c.diagnostics.iter().all(|d| !d.is_error()),
            "{} has errors: {:?}",
            c.name,
            c.diagnostics
        );
    }
    assert!(!catalog.flows().is_empty(), "no shipped flows");
    for flow in catalog.flows() {
        assert!(!flow.keywords.is_empty());
        for keyword in &flow.keywords {
            let (found, language) = catalog.by_keyword(&keyword.word).expect("keyword loads");
            assert_eq!(found.id, flow.id);
            let language = language.map(str::to_string);
            let strategy = (
                contact(),
                prop::collection::vec(reply(own_words(flow)), 0..30),
            );
            let mut runner = TestRunner::new(Config {
                cases: CASES_PER_FLOW / flow.keywords.len() as u32,
                failure_persistence: None,
                ..Config::default()
            });
            let result = runner.run(&strategy, |(contact, replies)| {
                converse(flow, language.as_deref(), &contact, &replies)
            });
            if let Err(e) = result {
                panic!("{} started by {}: {e}", flow.source, keyword.word);
            }
        }
    }
}

#[test]
fn the_property_check_catches_a_reply_recorded_for_the_wrong_question() {
    // The checks above must be able to fail: an outcome claiming an answer to a question the
    // session was not waiting on is refused.
    let (catalog, _) = civictext::flows_dir::load(&flows_dir()).expect("read flows");
    let flow = &catalog.flows()[0];
    let contact = BTreeMap::new();
    let ctx = Context {
        now: jiff::Timestamp::from_second(1_780_315_200).unwrap(),
        today: jiff::civil::date(2026, 6, 1),
        contact: &contact,
        entropy: 1,
    };
    let mut outcome = engine::start(flow, None, &ctx);
    assert!(check_outcome(flow, &outcome, None, &ctx).is_ok());
    outcome.effects.push(Effect::Answer(engine::AnswerRecord {
        question: "no-such-question".into(),
        raw: "x".into(),
        value: "x".into(),
        category: "text".into(),
        consent_topic: None,
        withdrawn_topic: None,
    }));
    assert!(check_outcome(flow, &outcome, None, &ctx).is_err());
    outcome.effects.pop();
    outcome.effects.push(Effect::Send {
        text: "a".repeat(1601),
    });
    assert!(check_outcome(flow, &outcome, None, &ctx).is_err());
}
