//! A text the waiting question accepts is its answer, even when it is (or folds into) another
//! flow's keyword; a keyword interrupts only when it is typed on its own and the question would
//! not take it. Through the real webhook on the shipped flows, and as a property over every
//! question of every shipped flow.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use civictext::flow::Flow;
use civictext::flow::catalog::Catalog;
use civictext::flow::engine::{self, Context, Inbound, Session};
use civictext::flow::model::{AnswerKind, StepKind};
use civictext::gateway::dispatch::{Input, ThrottleRules, decide};
use civictext::gateway::{FlowSet, Replies};
use civictext::store::{ActiveSession, Contact, SessionEnd, Snapshot};
use common::{phone, shipped_flows, spawn_app_on};
use proptest::prelude::*;

async fn sessions(app: &common::TestApp, from: &str) -> Vec<(String, String)> {
    app.db()
        .rows(
            "SELECT s.flow_id, s.status FROM sessions s
             JOIN contacts c ON c.id = s.contact_id WHERE c.phone = $1 ORDER BY s.id",
            &[from],
        )
        .await
}

async fn answer(app: &common::TestApp, from: &str, question: &str) -> Option<(String, String)> {
    app.db()
        .rows(
            "SELECT a.raw, a.value FROM answers a JOIN contacts c ON c.id = a.contact_id
             WHERE c.phone = $1 AND a.question = $2",
            &[from, question],
        )
        .await
        .pop()
}

/// Walks a new resident through the youth survey to "What would make you feel safer?".
async fn at_why_unsafe(app: &common::TestApp, me: &str) {
    app.say(me, "PLAN").await;
    app.say(me, "18").await;
    app.say(me, "40202").await;
    app.say(me, "1").await;
    assert_eq!(
        app.say(me, "no").await,
        ["What would make you feel safer? (a few words is fine)"]
    );
}

#[tokio::test]
async fn a_free_text_answer_that_is_or_folds_into_a_keyword_is_stored_and_the_survey_goes_on() {
    let app = spawn_app_on(&shipped_flows(), |_| {}).await;
    let texts = [
        "Main St",
        "bike lane!",
        "Report",
        "311",
        "plan",
        "MAINST",
        "carril bici",
        "REPORTE",
    ];
    for (n, text) in texts.into_iter().enumerate() {
        let me = phone(100 + n as u32);
        at_why_unsafe(&app, &me).await;
        let reply = app.say(&me, text).await;
        assert_eq!(
            reply,
            [
                "What should the city improve first?\n1. Parks and rec centers\n2. Buses and sidewalks\n3. Jobs and training\n4. Housing"
            ],
            "{text:?}"
        );
        assert_eq!(
            answer(&app, &me, "why-unsafe").await,
            Some((text.to_string(), text.to_string())),
            "{text:?} is the resident's answer"
        );
        assert_eq!(
            sessions(&app, &me).await,
            [("youth-survey".to_string(), "active".to_string())],
            "{text:?} started no other flow"
        );
    }
}

#[tokio::test]
async fn a_keyword_on_its_own_that_the_question_does_not_take_still_starts_its_flow() {
    let app = spawn_app_on(&shipped_flows(), |_| {}).await;
    for (n, text) in ["REPORT", "Report!", " 311 "].into_iter().enumerate() {
        let me = phone(200 + n as u32);
        app.say(&me, "PLAN").await;
        app.say(&me, "18").await;
        assert_eq!(
            app.say(&me, "40202").await,
            ["How do you usually get around?\n1. Bus\n2. Car\n3. Bike or walk\n4. Other"]
        );
        let reply = app.say(&me, text).await;
        assert!(
            reply[0].starts_with("City 311: what do you want to report?"),
            "{text:?}: {reply:?}"
        );
        assert_eq!(
            sessions(&app, &me).await,
            [
                ("youth-survey".to_string(), "interrupted".to_string()),
                ("service-request".to_string(), "active".to_string()),
            ],
            "{text:?}"
        );
    }
}

#[tokio::test]
async fn a_phrase_that_only_folds_into_a_keyword_is_asked_again_not_taken_as_the_keyword() {
    let app = spawn_app_on(&shipped_flows(), |_| {}).await;
    for (n, text) in ["Main St", "main st.", "carril bici"]
        .into_iter()
        .enumerate()
    {
        let me = phone(300 + n as u32);
        app.say(&me, "PLAN").await;
        app.say(&me, "18").await;
        app.say(&me, "40202").await;
        let reply = app.say(&me, text).await;
        assert!(
            reply[0].starts_with("Sorry, please reply with the number of your choice."),
            "{text:?}: {reply:?}"
        );
        assert_eq!(
            sessions(&app, &me).await,
            [("youth-survey".to_string(), "active".to_string())],
            "{text:?}"
        );
        assert_eq!(
            app.say(&me, "3").await[0],
            "Do you feel safe walking in your neighborhood after dark? Reply YES or NO."
        );
    }
}

#[tokio::test]
async fn a_phrase_that_folds_into_a_keyword_and_names_a_choice_is_that_choice() {
    let app = spawn_app_on(&shipped_flows(), |_| {}).await;
    let me = phone(350);
    app.say(&me, "PLAN").await;
    app.say(&me, "18").await;
    app.say(&me, "40202").await;
    assert_eq!(
        app.say(&me, "bike lane!").await,
        ["Do you feel safe walking in your neighborhood after dark? Reply YES or NO."]
    );
    assert_eq!(
        answer(&app, &me, "getting-around").await,
        Some(("bike lane!".to_string(), "bike-walk".to_string()))
    );
    assert_eq!(
        sessions(&app, &me).await,
        [("youth-survey".to_string(), "active".to_string())]
    );
}

#[tokio::test]
async fn with_no_conversation_going_a_phrase_that_folds_into_a_keyword_still_starts_its_flow() {
    let app = spawn_app_on(&shipped_flows(), |_| {}).await;
    let me = phone(400);
    let reply = app.say(&me, "Main St").await;
    assert!(
        reply[0].starts_with("City poll: should Main St get"),
        "{reply:?}"
    );
}

// ---- The rule as a property over every question of every shipped flow ----

fn shipped() -> (Catalog, FlowSet) {
    let (catalog, checks) = civictext::flows_dir::load(&shipped_flows()).expect("shipped flows");
    for c in &checks {
        assert!(c.diagnostics.iter().all(|d| !d.is_error()), "{}", c.name);
    }
    let set = FlowSet::new(catalog.clone(), []);
    (catalog, set)
}

fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_780_315_200).unwrap()
}

/// A session of `flow` waiting on the question at `position`, in `language`.
fn waiting_at(flow: &Flow, position: usize, language: &str) -> Session {
    let contact = BTreeMap::new();
    let ctx = context(&contact);
    let mut s = engine::start(flow, Some(language), &ctx).session;
    s.position = position;
    s
}

fn context(contact: &BTreeMap<String, String>) -> Context<'_> {
    Context {
        now: now(),
        today: jiff::civil::date(2026, 6, 1),
        contact,
        entropy: 7,
    }
}

/// Texts worth trying at a question: every keyword as typed and as a phrase, the question's own
/// labels and synonyms, numbers, and whatever else.
fn candidates(catalog: &Catalog, flow: &Flow, position: usize) -> Vec<String> {
    let mut out = Vec::new();
    for f in catalog.flows() {
        for k in &f.keywords {
            let lower = k.word.to_lowercase();
            out.push(k.word.clone());
            out.push(lower.clone());
            out.push(format!("{}!", k.word));
            out.push(format!(" {lower}. "));
            // The phrase a keyword folds out of: "main st", "bike lane".
            if lower.len() > 3 {
                let (a, b) = lower.split_at(lower.len() / 2);
                out.push(format!("{a} {b}"));
            }
        }
    }
    if let StepKind::Ask(q) = &flow.steps[position].kind
        && let AnswerKind::Choice(c) | AnswerKind::Language(c) = &q.kind
    {
        for (key, label) in c.keys.iter().zip(&c.labels) {
            out.push(key.clone());
            for (_, t) in &label.by_language {
                out.push(t.source());
            }
        }
    }
    out.extend(
        [
            "Main St",
            "bike lane!",
            "Report",
            "311",
            "plan",
            "yes",
            "no",
            "2",
            "18",
            "40202",
            "SKIP",
            "4th and Broadway",
        ]
        .map(str::to_string),
    );
    out
}

fn asks(flow: &Flow) -> Vec<usize> {
    flow.steps
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s.kind, StepKind::Ask(_)))
        .map(|(i, _)| i)
        .collect()
}

/// (flow index, question position, language, text).
fn case(catalog: &Catalog) -> impl Strategy<Value = (usize, usize, String, String)> + '_ {
    let flows = catalog.flows();
    (0..flows.len()).prop_flat_map(move |fi| {
        let flow: &Arc<Flow> = &flows[fi];
        let positions = asks(flow);
        let languages = flow.languages.clone();
        (
            Just(fi),
            proptest::sample::select(positions),
            proptest::sample::select(languages),
        )
            .prop_flat_map(move |(fi, position, language)| {
                let known = candidates(catalog, &catalog.flows()[fi], position);
                let text = prop_oneof![
                    3 => proptest::sample::select(known),
                    1 => "[A-Za-z0-9 !.,']{0,24}",
                ];
                (Just(fi), Just(position), Just(language), text)
            })
    })
}

fn contact() -> Contact {
    Contact {
        id: 1,
        phone: "+15025550123".into(),
        language: None,
        fields: BTreeMap::new(),
        opted_out: false,
        unmatched_count: 0,
        unmatched_since: None,
        last_default_reply_at: None,
        muted_until: None,
        opt_out_hint_at: None,
    }
}

#[test]
fn a_text_the_waiting_question_accepts_is_always_its_answer_never_another_flows_keyword() {
    let (catalog, set) = shipped();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 2_000,
        ..ProptestConfig::default()
    });
    let accepted_keywords = std::cell::Cell::new(0);
    let interruptions = std::cell::Cell::new(0);
    runner
        .run(&case(&catalog), |(fi, position, language, text)| {
            let flow = &catalog.flows()[fi];
            let session = waiting_at(flow, position, &language);
            let empty = BTreeMap::new();
            let inbound = Inbound {
                text: &text,
                media: &[],
            };
            let accepted = engine::accepts(flow, &session, &inbound, &context(&empty));
            let snapshot = Snapshot {
                contact: Some(contact()),
                session: Some(ActiveSession {
                    id: 1,
                    state: session,
                }),
            };
            let input = Input {
                text: &text,
                media: &[],
                now: now(),
                today: jiff::civil::date(2026, 6, 1),
                entropy: 7,
                provider_command: None,
                request: None,
            };
            let d = decide(
                &set,
                &Replies::default(),
                &ThrottleRules::default(),
                &snapshot,
                &input,
            );
            // STOP, START and HELP come first and are no part of this rule.
            prop_assume!(!matches!(d.route, "opt_out" | "opt_in" | "help"));
            let StepKind::Ask(q) = &flow.steps[position].kind else {
                unreachable!("positions are questions");
            };
            if accepted {
                if catalog.by_keyword(&text).is_some() {
                    accepted_keywords.set(accepted_keywords.get() + 1);
                }
                prop_assert_eq!(d.route, "session", "{:?} at {}/{}", text, flow.id, q.id);
                prop_assert_eq!(d.end_session, None);
                let session = d.session.as_ref().expect("the conversation goes on");
                prop_assert!(!session.new, "no flow started for {:?}", text);
                prop_assert_eq!(&session.state.flow, &flow.id);
                // A location is read back before it is stored; every other answer is stored now.
                if !matches!(q.kind, AnswerKind::Location { .. }) {
                    prop_assert!(
                        d.answers
                            .iter()
                            .any(|a| a.question == q.id && a.raw == text),
                        "{:?} at {}/{} stored as its answer: {:?}",
                        text,
                        flow.id,
                        q.id,
                        d.answers
                    );
                }
            } else if flow.interruptible && catalog.exact_keyword(&text).is_some() {
                interruptions.set(interruptions.get() + 1);
                prop_assert_eq!(d.route, "keyword");
                prop_assert_eq!(d.end_session, Some(SessionEnd::Interrupted));
            } else {
                prop_assert_eq!(d.route, "session", "{:?} at {}/{}", text, flow.id, q.id);
                prop_assert!(
                    d.answers
                        .iter()
                        .all(|a| a.question != q.id || a.category == "skipped")
                );
            }
            Ok(())
        })
        .unwrap();
    // The generator must reach both sides of the rule, or the property says nothing.
    assert!(accepted_keywords.get() > 0, "no accepted keyword was tried");
    assert!(interruptions.get() > 0, "no interruption was tried");
}
