//! Residents revoke consent in their own words (FCC 24-24): a request to stop inside a sentence,
//! in English or Spanish, misspelled or spaced out, opts them out even in the middle of a
//! survey; Twilio's own opt-out signal is obeyed; and a late retry never contradicts the
//! resident's current choice.

mod common;

use common::{TestApp, phone, spawn_app};

const EMPTY: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;
const UNSUBSCRIBED_EN: &str = "You're unsubscribed from City of Testville texts and won't get any more. Reply START to resubscribe.";
const UNSUBSCRIBED_ES: &str = "Se dio de baja de los mensajes de City of Testville y no recibirá más. Responda START para volver.";

async fn opted_out(app: &TestApp, from: &str) -> bool {
    app.db()
        .scalar("SELECT opted_out FROM contacts WHERE phone = $1", &[from])
        .await
}

async fn answers_of(app: &TestApp, from: &str) -> Vec<String> {
    app.db()
        .scalars(
            "SELECT a.raw FROM answers a JOIN contacts c ON c.id = a.contact_id
             WHERE c.phone = $1 ORDER BY a.id",
            &[from],
        )
        .await
}

/// Starts the park survey (in Spanish with PARQUES), answers the first question, then sends
/// `text` where the next answer is expected; asserts it opted the resident out instead.
async fn assert_opts_out_mid_survey(app: &TestApp, from: &str, keyword: &str, text: &str) {
    app.say(from, keyword).await;
    let first = if keyword == "PARQUES" {
        "cada semana"
    } else {
        "weekly"
    };
    app.say(from, first).await;
    let reply = app.say(from, text).await;
    let expected = if keyword == "PARQUES" {
        UNSUBSCRIBED_ES
    } else {
        UNSUBSCRIBED_EN
    };
    assert_eq!(
        reply,
        [expected],
        "{text:?} must opt out with one confirmation"
    );
    assert!(
        opted_out(app, from).await,
        "{text:?} must record the opt-out"
    );
    assert_eq!(
        answers_of(app, from).await.len(),
        1,
        "{text:?} must not be stored as an answer"
    );
    let status: String = app
        .db()
        .scalar(
            "SELECT s.status FROM sessions s JOIN contacts c ON c.id = s.contact_id
             WHERE c.phone = $1",
            &[from],
        )
        .await;
    assert_eq!(status, "opted_out", "{text:?} must end the survey");
    let (_, after) = app.text(from, "4").await;
    assert_eq!(after, EMPTY, "nothing more after {text:?}");
}

#[tokio::test]
async fn a_request_to_stop_inside_a_sentence_opts_the_resident_out_in_the_middle_of_a_survey() {
    let app = spawn_app().await;
    for (i, text) in [
        "STOP!!! I never signed up",
        "I said stop",
        "who is this? stop",
        "Stop\n\nSent from my iPhone",
        "do not contact me",
        "I revoke consent",
        "unsubscribe me",
        "S T O P",
        "s.t.o.p",
        "STOOOP",
        "stpo",
        "Unsubscirbe",
        "please stop texting me, I am not interested",
        "I don't want these texts anymore",
        "How do I unsubscribe from this?",
        "Wrong number. Who is this?",
        "Stop sent from my iPhone",
        "stop 🛑",
        "“Stop”",
    ]
    .into_iter()
    .enumerate()
    {
        assert_opts_out_mid_survey(&app, &phone(100 + i as u32), "PARKS", text).await;
    }
}

#[tokio::test]
async fn a_spanish_request_to_stop_inside_a_sentence_opts_out_with_a_spanish_confirmation() {
    let app = spawn_app().await;
    for (i, text) in [
        "No quiero más mensajes",
        "ya no quiero mensajes",
        "Ya no quiero recibir mensajes, gracias",
        "¿Quién es? No me escriban",
        "Dejen de mandarme mensajes!!!",
        "kiero darme de baja",
        "NO MAS MSJS",
        "Alto\nEnviado desde mi iPhone",
        "Revoco mi consentimiento",
        "Quítenme de la lista",
    ]
    .into_iter()
    .enumerate()
    {
        assert_opts_out_mid_survey(&app, &phone(200 + i as u32), "PARQUES", text).await;
    }
}

#[tokio::test]
async fn stop_family_words_used_as_nouns_in_answers_are_stored_as_answers() {
    let app = spawn_app().await;
    for (i, text) in [
        "the bus stop is broken",
        "stop sign",
        "The stop light at 4th is out",
        "please don't stop texting me, this is useful",
    ]
    .into_iter()
    .enumerate()
    {
        let me = phone(300 + i as u32);
        for step in ["PARKS", "weekly", "4", "no"] {
            app.say(&me, step).await;
        }
        assert_eq!(
            app.say(&me, text).await,
            ["Thanks! Your answers were recorded."],
            "{text:?}"
        );
        assert!(!opted_out(&app, &me).await, "{text:?}");
        assert_eq!(
            answers_of(&app, &me).await.last().map(String::as_str),
            Some(text)
        );
    }
}
