//! STOP always works, HELP always answers, START brings a resident back; and words that merely
//! contain "stop" are not mistaken for an opt-out.

mod common;

use common::{TestApp, phone, spawn_app};

const EMPTY: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#;

async fn consent_events(app: &TestApp, from: &str) -> Vec<(String, String)> {
    app.db()
        .rows(
            "SELECT e.kind, e.text FROM consent_events e JOIN contacts c ON c.id = e.contact_id
             WHERE c.phone = $1 ORDER BY e.id",
            &[from],
        )
        .await
}

async fn opted_out(app: &TestApp, from: &str) -> bool {
    // SQLite stores the flag as 0/1, PostgreSQL as a BOOLEAN: both decode as `bool`.
    app.db()
        .scalar("SELECT opted_out FROM contacts WHERE phone = $1", &[from])
        .await
}

async fn silent(app: &TestApp, from: &str, body: &str) {
    let (status, twiml) = app.text(from, body).await;
    assert_eq!(status, 200);
    assert_eq!(twiml, EMPTY, "{body:?} must get no reply");
}

/// Takes `from` through the park survey to its free-text comments question: the keyword, how
/// often they visit, a rating, and no dog.
async fn reach_comments(app: &TestApp, from: &str, keyword: &str, visits: &str, rating: &str) {
    for text in [keyword, visits, rating, "no"] {
        app.say(from, text).await;
    }
}

#[tokio::test]
async fn stop_in_the_middle_of_a_survey_ends_it_with_one_confirmation_and_silence_after() {
    let app = spawn_app().await;
    let me = phone(1);
    app.say(&me, "PARKS").await;
    app.say(&me, "weekly").await;

    let confirmation = app.say(&me, "STOP").await;
    assert_eq!(
        confirmation,
        [
            "You're unsubscribed from City of Testville texts and won't get any more. Reply START to resubscribe."
        ]
    );
    let status: String = app.db().scalar("SELECT status FROM sessions", &[]).await;
    assert_eq!(status, "opted_out");
    assert!(opted_out(&app, &me).await);
    assert_eq!(
        consent_events(&app, &me).await,
        [("opt_out".into(), "STOP".into())]
    );

    // Answers, keywords, anything: no reply, nothing stored as an answer.
    let outbound_before = app.count("messages", "direction = 'out'").await;
    silent(&app, &me, "4").await;
    silent(&app, &me, "PARKS").await;
    silent(&app, &me, "POTHOLE").await;
    silent(&app, &me, "hello??").await;
    // A second STOP does not confirm again.
    silent(&app, &me, "stop").await;
    assert_eq!(
        app.count("answers", "TRUE").await,
        1,
        "only the answer before STOP"
    );
    assert_eq!(app.count("sessions", "TRUE").await, 1, "no new session");
    assert_eq!(
        app.count("messages", "direction = 'out'").await,
        outbound_before
    );
    // The texts themselves are still kept, marked as received from an opted-out number.
    assert_eq!(
        app.count("messages", "direction = 'in' AND route = 'opted_out'")
            .await,
        4
    );
}

#[tokio::test]
async fn help_still_answers_while_opted_out_and_start_resubscribes() {
    let app = spawn_app().await;
    let me = phone(2);
    app.say(&me, "STOP").await;
    assert!(opted_out(&app, &me).await);

    let help = app.say(&me, "HELP").await;
    assert_eq!(help.len(), 1);
    assert!(
        help[0].contains("City of Testville") && help[0].contains("call 311"),
        "{help:?}"
    );
    assert!(
        help[0].contains("STOP"),
        "HELP says how to opt out: {help:?}"
    );
    assert!(opted_out(&app, &me).await, "HELP does not opt back in");

    let back = app.say(&me, "START").await;
    assert_eq!(
        back,
        [
            "You're subscribed to City of Testville texts again. Reply HELP for help, STOP to opt out."
        ]
    );
    assert!(!opted_out(&app, &me).await);
    assert_eq!(
        consent_events(&app, &me).await,
        [
            ("opt_out".into(), "STOP".into()),
            ("opt_in".into(), "START".into())
        ]
    );
    assert_eq!(
        app.say(&me, "PARKS").await[0],
        "Welcome to the Riverside Park survey."
    );
}

#[tokio::test]
async fn spanish_opt_outs_are_confirmed_in_spanish() {
    let app = spawn_app().await;
    for (i, word) in ["ALTO", "no más", "No mas", "CANCELAR", "PARAR"]
        .into_iter()
        .enumerate()
    {
        let me = phone(10 + i as u32);
        app.say(&me, "PARQUES").await;
        let reply = app.say(&me, word).await;
        assert_eq!(
            reply,
            [
                "Se dio de baja de los mensajes de City of Testville y no recibirá más. Responda START para volver."
            ],
            "{word:?}"
        );
        assert!(opted_out(&app, &me).await, "{word:?}");
        assert_eq!(
            consent_events(&app, &me).await,
            [("opt_out".into(), word.into())]
        );
    }
}

#[tokio::test]
async fn stop_texting_me_in_plain_words_opts_out() {
    let app = spawn_app().await;
    let me = phone(3);
    app.say(&me, "POTHOLE").await;
    let reply = app.say(&me, "stop texting me").await;
    assert_eq!(reply.len(), 1);
    assert!(reply[0].starts_with("You're unsubscribed"), "{reply:?}");
    assert!(opted_out(&app, &me).await);
    silent(&app, &me, "5th and Main").await;
}

#[tokio::test]
async fn a_first_text_of_stop_from_an_unknown_number_is_recorded_and_confirmed_once() {
    let app = spawn_app().await;
    let me = phone(4);
    assert_eq!(app.say(&me, "Unsubscribe").await.len(), 1);
    assert!(opted_out(&app, &me).await);
    silent(&app, &me, "QUICK").await;
}

#[tokio::test]
async fn the_word_stop_inside_a_free_text_answer_is_an_answer_not_an_opt_out() {
    let app = spawn_app().await;
    let me = phone(5);
    reach_comments(&app, &me, "PARKS", "monthly", "3").await;
    let reply = app.say(&me, "the bus stop is broken").await;
    assert_eq!(reply, ["Thanks! Your answers were recorded."]);
    assert!(!opted_out(&app, &me).await);
    assert!(consent_events(&app, &me).await.is_empty());
    let raw: String = app
        .db()
        .scalar("SELECT raw FROM answers WHERE question = 'comments'", &[])
        .await;
    assert_eq!(raw, "the bus stop is broken");

    // And in a report's description.
    let other = phone(6);
    app.say(&other, "POTHOLE").await;
    app.say(&other, "Oak St and 3rd").await;
    app.say(&other, "yes").await;
    app.say(&other, "skip").await;
    let done = app
        .say(&other, "stop sign down and a hole next to it")
        .await;
    assert!(
        done[0].starts_with("Thanks! Your tracking code is"),
        "{done:?}"
    );
    assert!(!opted_out(&app, &other).await);
}

#[tokio::test]
async fn help_in_the_middle_of_a_survey_answers_and_the_survey_waits_at_the_same_question() {
    let app = spawn_app().await;
    let me = phone(7);
    app.say(&me, "PARKS").await;
    app.say(&me, "weekly").await;
    let help = app.say(&me, "HELP").await;
    assert_eq!(help.len(), 1);
    assert!(help[0].contains("City of Testville"), "{help:?}");
    assert_eq!(app.count("answers", "question = 'rating'").await, 0);
    assert_eq!(
        app.say(&me, "4").await,
        ["Do you bring a dog? Reply YES or NO."]
    );
}

#[tokio::test]
async fn yes_to_a_yes_no_question_is_an_answer_not_an_opt_in() {
    let app = spawn_app().await;
    let me = phone(8);
    for step in ["PARKS", "weekly", "4"] {
        app.say(&me, step).await;
    }
    assert_eq!(app.say(&me, "YES").await, ["Anything else we should know?"]);
    let value: String = app
        .db()
        .scalar("SELECT value FROM answers WHERE question = 'dogs'", &[])
        .await;
    assert_eq!(value, "yes");
    assert!(consent_events(&app, &me).await.is_empty());
}

#[tokio::test]
async fn a_retried_delivery_after_the_resident_opted_out_gets_no_reply_but_stop_is_confirmed_again()
{
    let app = spawn_app().await;
    let me = phone(30);
    let (status, first) = app.text_with_sid(&me, "PARKS", "SMretryfirst").await;
    assert_eq!(status, 200);
    assert_ne!(first, EMPTY);
    let (_, confirmation) = app
        .text_with_sid(&me, "leave me alone", "SMretrystop")
        .await;
    assert_ne!(confirmation, EMPTY);

    // Twilio retries the first text (its reply was lost): the survey must not be sent again.
    let (status, replayed) = app.text_with_sid(&me, "PARKS", "SMretryfirst").await;
    assert_eq!(status, 200);
    assert_eq!(replayed, EMPTY);
    // A retry of the opt-out itself still carries its one confirmation.
    let (_, again) = app
        .text_with_sid(&me, "leave me alone", "SMretrystop")
        .await;
    assert_eq!(again, confirmation);
}

#[tokio::test]
async fn an_answer_that_might_mean_stop_is_kept_and_the_resident_is_told_once_a_day_how_to_stop() {
    let app = spawn_app().await;
    let me = phone(41);
    reach_comments(&app, &me, "PARKS", "monthly", "3").await;
    let reply = app
        .say(&me, "tell the drivers to stop speeding on Elm")
        .await;
    assert_eq!(
        reply,
        [
            "Thanks! Your answers were recorded.",
            "Reply STOP to stop all texts from City of Testville."
        ],
        "the answer is taken, then the one clarifying text"
    );
    assert!(!opted_out(&app, &me).await);
    let raw: String = app
        .db()
        .scalar("SELECT raw FROM answers WHERE question = 'comments'", &[])
        .await;
    assert_eq!(raw, "tell the drivers to stop speeding on Elm");

    // The same day, another such answer is just an answer.
    reach_comments(&app, &me, "PARKS", "weekly", "4").await;
    let reply = app.say(&me, "I want to cancel the noise permits").await;
    assert_eq!(reply, ["Thanks! Your answers were recorded."]);

    // Another resident is told too, in Spanish for a Spanish word.
    let other = phone(42);
    reach_comments(&app, &other, "PARQUES", "cada mes", "3").await;
    let reply = app.say(&other, "hay que parar esto").await;
    assert_eq!(
        reply.last().map(String::as_str),
        Some("Responda STOP para dejar de recibir todos los mensajes de City of Testville."),
        "{reply:?}"
    );
    assert!(!opted_out(&app, &other).await);
}

#[tokio::test]
async fn a_plain_use_of_stop_gets_no_clarifying_text() {
    let app = spawn_app().await;
    let me = phone(43);
    reach_comments(&app, &me, "PARKS", "monthly", "3").await;
    let reply = app.say(&me, "the bus stop is broken").await;
    assert_eq!(reply, ["Thanks! Your answers were recorded."]);
}
