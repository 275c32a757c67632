//! Residents' conversations through the real webhook: surveys, service requests, languages,
//! interruptions, expiry and the default reply.

mod common;

use std::time::Duration;

use common::{joined, phone, spawn_app, spawn_app_on};

async fn session_rows(app: &common::TestApp, from: &str) -> Vec<(String, String, String)> {
    app.db()
        .rows(
            "SELECT s.flow_id, s.status, s.language FROM sessions s
             JOIN contacts c ON c.id = s.contact_id WHERE c.phone = $1 ORDER BY s.id",
            &[from],
        )
        .await
}

#[tokio::test]
async fn a_resident_completes_the_survey_and_every_answer_is_stored_with_its_flow_version() {
    let app = spawn_app().await;
    let me = phone(1);

    let first = app.say(&me, "PARKS").await;
    assert_eq!(first[0], "Welcome to the Riverside Park survey.");
    assert_eq!(
        first[1],
        "How often do you visit Riverside Park?\n1. Weekly\n2. Monthly\n3. Never"
    );
    assert_eq!(
        app.say(&me, "2").await,
        ["From 1 to 5, how clean is the park?"]
    );
    assert_eq!(
        app.say(&me, "4").await,
        ["Do you bring a dog? Reply YES or NO."]
    );
    assert_eq!(
        app.say(&me, "Yes!").await,
        ["Anything else we should know?"]
    );
    assert_eq!(
        app.say(&me, "The benches need paint").await,
        ["Thanks! Your answers were recorded."]
    );

    let version: String = app
        .db()
        .scalar(
            "SELECT version FROM flow_versions WHERE flow_id = 'park-survey'",
            &[],
        )
        .await;
    let rows: Vec<(String, String, String, String, String, String)> = app
        .db()
        .rows(
            "SELECT a.question, a.raw, a.value, a.category, a.flow_id, a.flow_version
             FROM answers a JOIN contacts c ON c.id = a.contact_id WHERE c.phone = $1
             ORDER BY a.id",
            &[&me],
        )
        .await;
    let answers: Vec<[String; 6]> = rows
        .into_iter()
        .map(|(q, raw, value, category, flow, version)| [q, raw, value, category, flow, version])
        .collect();
    let expect = |q: &str, raw: &str, value: &str, category: &str| {
        [q, raw, value, category, "park-survey", version.as_str()].map(str::to_string)
    };
    assert_eq!(
        answers,
        vec![
            expect("visits", "2", "monthly", "monthly"),
            expect("rating", "4", "4", "number"),
            expect("dogs", "Yes!", "yes", "yes"),
            expect(
                "comments",
                "The benches need paint",
                "The benches need paint",
                "text"
            ),
        ]
    );
    assert_eq!(
        session_rows(&app, &me).await,
        [("park-survey".into(), "completed".into(), "en".into())]
    );
    // Every text in and out is kept: 5 in, 6 out.
    assert_eq!(app.count("messages", "direction = 'in'").await, 5);
    assert_eq!(app.count("messages", "direction = 'out'").await, 6);
}

#[tokio::test]
async fn an_answer_that_branches_skips_the_questions_it_does_not_need() {
    let app = spawn_app().await;
    let me = phone(2);
    app.say(&me, "parks").await;
    assert_eq!(
        app.say(&me, "never").await,
        ["What keeps you from visiting?"]
    );
    assert_eq!(
        app.say(&me, "No parking nearby").await,
        ["Thanks for telling us why."]
    );
    let questions: Vec<String> = app
        .db()
        .scalars("SELECT question FROM answers ORDER BY id", &[])
        .await;
    assert_eq!(questions, ["visits", "why-not"]);
    assert_eq!(session_rows(&app, &me).await[0].1, "completed");
}

#[tokio::test]
async fn a_wrong_answer_is_asked_again_and_stores_nothing() {
    let app = spawn_app().await;
    let me = phone(3);
    app.say(&me, "PARKS").await;
    app.say(&me, "weekly").await;
    let retry = app.say(&me, "eleven").await;
    assert_eq!(retry, ["Sorry, please reply with a number from 1 to 5."]);
    assert_eq!(app.count("answers", "question = 'rating'").await, 0);
    assert_eq!(
        app.say(&me, "5").await,
        ["Do you bring a dog? Reply YES or NO."]
    );
}

#[tokio::test]
async fn a_resident_files_a_service_request_and_is_texted_the_tracking_code_stored_with_it() {
    let app = spawn_app().await;
    let me = phone(4);

    assert_eq!(
        app.say(&me, "POTHOLE").await,
        ["Where is the pothole? Send an address or the nearest cross streets."]
    );
    assert_eq!(
        app.say(&me, "5th and Main").await,
        ["You said: 5th and Main. Is that right? Reply YES or NO."]
    );
    assert_eq!(
        app.say(&me, "yes").await,
        ["Send a photo of it, or reply SKIP.\n(Reply SKIP to skip.)"]
    );
    let (status, twiml) = app
        .text_photo(&me, "", "https://api.twilio.com/media/ME123")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        common::messages(&twiml),
        ["Describe the problem in a few words."]
    );
    let done = app.say(&me, "Deep hole in the right lane").await;
    assert_eq!(done.len(), 1);
    let code = regex::Regex::new(r"^Thanks! Your tracking code is ([0-9A-Z]{4}-[0-9A-Z]{4})\.$")
        .unwrap()
        .captures(&done[0])
        .unwrap_or_else(|| panic!("no tracking code in {done:?}"))[1]
        .to_string();

    let (stored_code, service, description, location, photo, status, flow_id): (
        String,
        String,
        String,
        String,
        String,
        String,
        String,
    ) = app
        .db()
        .row(
            "SELECT r.code, r.service, r.description, r.location, r.photo, r.status, r.flow_id
             FROM service_requests r JOIN contacts c ON c.id = r.contact_id WHERE c.phone = $1",
            &[&me],
        )
        .await;
    assert_eq!(stored_code, code);
    assert_eq!(service, "pothole");
    assert_eq!(description, "Deep hole in the right lane");
    assert_eq!(location, "5th and Main");
    assert_eq!(photo, "https://api.twilio.com/media/ME123");
    assert_eq!(status, "open");
    assert_eq!(flow_id, "pothole-report");
    let answered: Vec<(String, String)> = app
        .db()
        .rows("SELECT question, category FROM answers ORDER BY id", &[])
        .await;
    assert_eq!(
        answered,
        [
            ("where".into(), "location".into()),
            ("photo".into(), "photo".into()),
            ("details".into(), "text".into()),
        ]
    );
    assert_eq!(session_rows(&app, &me).await[0].1, "completed");
}

#[tokio::test]
async fn a_spanish_keyword_starts_the_conversation_in_spanish() {
    let app = spawn_app().await;
    let me = phone(5);
    let first = app.say(&me, "Parques").await;
    assert_eq!(
        first,
        [
            "Bienvenido a la encuesta del Parque Riverside.",
            "¿Con qué frecuencia visita el Parque Riverside?\n1. Cada semana\n2. Cada mes\n3. Nunca"
        ]
    );
    assert_eq!(
        app.say(&me, "cada mes").await,
        ["Del 1 al 5, ¿qué tan limpio está el parque?"]
    );
    assert_eq!(
        app.say(&me, "cero").await,
        ["Perdón, responda con un número del 1 al 5."]
    );
    let value: String = app
        .db()
        .scalar("SELECT value FROM answers WHERE question = 'visits'", &[])
        .await;
    assert_eq!(value, "monthly");
    assert_eq!(session_rows(&app, &me).await[0].2, "es");
}

#[tokio::test]
async fn another_flows_keyword_interrupts_an_interruptible_flow() {
    let app = spawn_app().await;
    let me = phone(6);
    app.say(&me, "PARKS").await;
    app.say(&me, "1").await;
    assert_eq!(
        app.say(&me, "pothole").await,
        ["Where is the pothole? Send an address or the nearest cross streets."]
    );
    assert_eq!(
        session_rows(&app, &me).await,
        [
            ("park-survey".into(), "interrupted".into(), "en".into()),
            ("pothole-report".into(), "active".into(), "en".into()),
        ]
    );
    // The keyword was not stored as an answer to the interrupted survey.
    assert_eq!(app.count("answers", "question = 'rating'").await, 0);
}

#[tokio::test]
async fn a_keyword_sent_during_a_flow_that_cannot_be_interrupted_is_taken_as_its_answer() {
    let app = spawn_app().await;
    let me = phone(7);
    app.say(&me, "QUICK").await;
    let reply = app.say(&me, "PARKS").await;
    assert!(
        reply[0].starts_with("Sorry, please reply with the number of your choice."),
        "{reply:?}"
    );
    assert_eq!(
        session_rows(&app, &me).await,
        [("quick-poll".into(), "active".into(), "en".into())]
    );
    assert_eq!(app.say(&me, "2").await, ["Thanks, noted!"]);
}

#[tokio::test]
async fn after_a_session_expires_the_next_text_is_treated_as_new() {
    let app = spawn_app().await;
    let me = phone(8);
    assert_eq!(
        app.say(&me, "QUICK").await,
        ["Which day suits you for the cleanup?\n1. Saturday\n2. Sunday"]
    );
    // The fixture poll expires after 2 s of silence.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let reply = joined(&app.say(&me, "Saturday").await);
    assert!(
        reply.contains("didn't understand") && reply.contains("PARKS"),
        "an expired session's answer gets the default reply: {reply:?}"
    );
    assert_eq!(
        session_rows(&app, &me).await,
        [("quick-poll".into(), "expired".into(), "en".into())]
    );
    assert_eq!(app.count("answers", "TRUE").await, 0);
    // And a keyword starts afresh.
    assert_eq!(app.say(&me, "QUICK").await.len(), 1);
    assert_eq!(session_rows(&app, &me).await[1].1, "active");
}

#[tokio::test]
async fn a_text_matching_nothing_gets_the_default_reply_listing_keywords_once_per_ten_minutes() {
    let app = spawn_app().await;
    let me = phone(9);
    let reply = app.say(&me, "hello?").await;
    assert_eq!(reply.len(), 1);
    for keyword in ["PARKS", "POTHOLE", "QUICK"] {
        assert!(reply[0].contains(keyword), "{keyword} missing in {reply:?}");
    }
    let (status, twiml) = app.text(&me, "is anyone there").await;
    assert_eq!(status, 200);
    assert_eq!(
        twiml,
        r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
    );
    // Another resident still gets their own default reply.
    assert_eq!(app.say(&phone(10), "hi").await.len(), 1);
}

#[tokio::test]
async fn after_a_burst_of_unmatched_texts_a_number_is_muted_but_a_keyword_still_works() {
    let app = spawn_app().await;
    let me = phone(11);
    let mut replied = 0;
    for i in 0..8 {
        replied += app.say(&me, &format!("auto-reply {i}")).await.len();
    }
    assert_eq!(replied, 1, "only the first unmatched text is answered");
    let muted: Option<String> = app
        .db()
        .scalar(
            "SELECT CAST(muted_until AS TEXT) FROM contacts WHERE phone = $1",
            &[&me],
        )
        .await;
    assert!(muted.is_some(), "the number is muted after the burst");
    let start = app.say(&me, "PARKS").await;
    assert_eq!(start[0], "Welcome to the Riverside Park survey.");
}

#[tokio::test]
async fn health_and_readiness_probes_answer_with_the_flows_loaded() {
    let app = spawn_app().await;
    let (status, body) = app.get("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body.trim(), "ok");
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["ready"], true);
    assert_eq!(json["database"], "ok");
    let flows: Vec<String> = json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().split('@').next().unwrap().to_string())
        .collect();
    assert_eq!(flows.len(), 3, "{json}");
    for id in ["park-survey", "pothole-report", "quick-poll"] {
        assert!(flows.iter().any(|f| f == id), "{id} missing in {json}");
    }
}

#[tokio::test]
async fn every_shipped_flow_starts_with_its_first_keyword() {
    let shipped = common::shipped_flows();
    let (catalog, _) = civictext::flows_dir::load(&shipped).unwrap();
    assert!(!catalog.flows().is_empty(), "no shipped flows loaded");
    let app = spawn_app_on(&shipped, |_| {}).await;
    for (i, flow) in catalog.flows().iter().enumerate() {
        let keyword = &flow.keywords.first().expect("a keyword").word;
        let reply = app.say(&phone(100 + i as u32), keyword).await;
        assert!(
            !reply.is_empty() && reply.iter().all(|m| !m.trim().is_empty()),
            "{} gave no reply to {keyword}: {reply:?}",
            flow.id
        );
    }
}
