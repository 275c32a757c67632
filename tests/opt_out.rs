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

async fn consent_events(app: &TestApp, from: &str) -> Vec<(String, String)> {
    app.db()
        .rows(
            "SELECT e.kind, e.text FROM consent_events e JOIN contacts c ON c.id = e.contact_id
             WHERE c.phone = $1 ORDER BY e.id",
            &[from],
        )
        .await
}

/// A signed webhook carrying Twilio Advanced Opt-Out's `OptOutType`.
async fn text_with_opt_out_type(app: &TestApp, from: &str, body: &str, kind: &str) -> String {
    let mut params = common::sms_params(from, body, &common::new_sid());
    params.push(("OptOutType".into(), kind.into()));
    let (status, twiml) = app.post_signed(&params).await;
    assert_eq!(status, 200, "{twiml}");
    twiml
}

#[tokio::test]
async fn twilios_opt_out_type_stop_opts_out_whatever_the_body_says_without_a_second_confirmation() {
    let app = spawn_app().await;
    let me = phone(400);
    app.say(&me, "PARKS").await;
    // "weekly" is a valid answer, but Twilio matched one of the service's own opt-out keywords
    // and has already sent its confirmation.
    assert_eq!(
        text_with_opt_out_type(&app, &me, "weekly", "STOP").await,
        EMPTY
    );
    assert!(opted_out(&app, &me).await);
    assert!(answers_of(&app, &me).await.is_empty());
    assert_eq!(
        consent_events(&app, &me).await,
        [("opt_out".into(), "weekly".into())]
    );
    let status: String = app.db().scalar("SELECT status FROM sessions", &[]).await;
    assert_eq!(status, "opted_out");
    let (_, after) = app.text(&me, "4").await;
    assert_eq!(after, EMPTY);
}

#[tokio::test]
async fn twilios_opt_out_type_start_opts_back_in_and_help_is_not_taken_as_an_answer() {
    let app = spawn_app().await;
    let me = phone(401);
    app.say(&me, "STOP").await;
    assert_eq!(
        text_with_opt_out_type(&app, &me, "Hola", "START").await,
        EMPTY
    );
    assert!(!opted_out(&app, &me).await);
    assert_eq!(
        consent_events(&app, &me).await,
        [
            ("opt_out".into(), "STOP".into()),
            ("opt_in".into(), "Hola".into())
        ]
    );

    app.say(&me, "PARKS").await;
    app.say(&me, "weekly").await;
    // "4" would answer the rating question; Twilio says it is a help keyword of the service.
    assert_eq!(text_with_opt_out_type(&app, &me, "4", "HELP").await, EMPTY);
    assert_eq!(answers_of(&app, &me).await, ["weekly"]);
    assert!(!opted_out(&app, &me).await);
    assert_eq!(
        app.say(&me, "4").await,
        ["Do you bring a dog? Reply YES or NO."],
        "the survey waited at the same question"
    );
    // A value Twilio does not document is ignored: the text is handled as usual.
    let twiml = text_with_opt_out_type(&app, &me, "yes", "SOMETHING").await;
    assert_eq!(common::messages(&twiml), ["Anything else we should know?"]);
}

#[tokio::test]
async fn a_retried_old_stop_after_resubscribing_neither_opts_out_again_nor_says_unsubscribed() {
    let app = spawn_app().await;
    let me = phone(402);
    let (_, confirmation) = app.text_with_sid(&me, "STOP", "SMoldstop").await;
    assert_eq!(common::messages(&confirmation), [UNSUBSCRIBED_EN]);
    let (_, back) = app.text_with_sid(&me, "START", "SMstartagain").await;
    assert_eq!(common::messages(&back).len(), 1);

    // Twilio delivers the old STOP again (same MessageSid): it was answered already and the
    // resident has since chosen to hear from us again.
    let (status, replayed) = app.text_with_sid(&me, "STOP", "SMoldstop").await;
    assert_eq!(status, 200);
    assert_eq!(replayed, EMPTY, "a stale 'you are unsubscribed'");
    assert!(!opted_out(&app, &me).await, "the old STOP opted out again");
    assert_eq!(
        consent_events(&app, &me).await,
        [
            ("opt_out".into(), "STOP".into()),
            ("opt_in".into(), "START".into())
        ]
    );
    // The START's own retry still carries its confirmation, and the resident is served.
    let (_, again) = app.text_with_sid(&me, "START", "SMstartagain").await;
    assert_eq!(again, back);
    assert_eq!(
        app.say(&me, "PARKS").await[0],
        "Welcome to the Riverside Park survey."
    );

    // After a second STOP, a retry of the START must not say "subscribed again" either.
    app.say(&me, "stop").await;
    let (_, stale_start) = app.text_with_sid(&me, "START", "SMstartagain").await;
    assert_eq!(stale_start, EMPTY);
    assert!(opted_out(&app, &me).await);
}
