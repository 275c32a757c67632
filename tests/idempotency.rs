//! Twilio retries: a repeated MessageSid is answered exactly as the first delivery and changes
//! nothing, even when deliveries race each other.

mod common;

use std::sync::Arc;

use common::{new_sid, phone, spawn_app};

#[tokio::test]
async fn the_same_message_sid_twice_gets_the_identical_reply_and_changes_nothing() {
    let app = spawn_app().await;
    let me = phone(1);

    let start = new_sid();
    let first = app.text_with_sid(&me, "PARKS", &start).await;
    let again = app.text_with_sid(&me, "PARKS", &start).await;
    assert_eq!(first.0, 200);
    assert_eq!(
        first, again,
        "a repeat delivery gets the byte-identical reply"
    );
    assert_eq!(app.count("sessions", "TRUE").await, 1);

    let answer = new_sid();
    let first = app.text_with_sid(&me, "2", &answer).await;
    let state_after_first: String = app
        .db()
        .scalar("SELECT CAST(state AS TEXT) FROM sessions", &[])
        .await;
    let again = app.text_with_sid(&me, "2", &answer).await;
    assert_eq!(first, again);
    assert_eq!(
        common::messages(&again.1),
        ["From 1 to 5, how clean is the park?"]
    );
    let state_after_repeat: String = app
        .db()
        .scalar("SELECT CAST(state AS TEXT) FROM sessions", &[])
        .await;
    assert_eq!(
        state_after_first, state_after_repeat,
        "the session did not move"
    );

    assert_eq!(
        app.count("messages", &format!("sid = '{answer}'")).await,
        1,
        "one stored inbound message"
    );
    assert_eq!(app.count("answers", "question = 'visits'").await, 1);
    assert_eq!(app.count("messages", "direction = 'in'").await, 2);
    assert_eq!(app.count("messages", "direction = 'out'").await, 3);

    // The conversation carries on from where the first delivery left it.
    assert_eq!(
        app.say(&me, "4").await,
        ["Do you bring a dog? Reply YES or NO."]
    );
}

#[tokio::test]
async fn a_repeated_stop_is_recorded_and_confirmed_once() {
    let app = spawn_app().await;
    let me = phone(2);
    let sid = new_sid();
    let first = app.text_with_sid(&me, "STOP", &sid).await;
    let again = app.text_with_sid(&me, "STOP", &sid).await;
    assert_eq!(first, again);
    assert_eq!(common::messages(&first.1).len(), 1);
    assert_eq!(app.count("consent_events", "TRUE").await, 1);
}

#[tokio::test]
async fn a_repeat_delivery_of_a_text_that_got_no_reply_still_gets_no_reply() {
    let app = spawn_app().await;
    let me = phone(3);
    app.say(&me, "hi").await; // the default reply
    let sid = new_sid();
    let first = app.text_with_sid(&me, "hello?", &sid).await; // throttled
    let again = app.text_with_sid(&me, "hello?", &sid).await;
    assert_eq!(first, again);
    assert!(common::messages(&first.1).is_empty());
    let unmatched: i32 = app
        .db()
        .scalar(
            "SELECT unmatched_count FROM contacts WHERE phone = $1",
            &[&me],
        )
        .await;
    assert_eq!(unmatched, 2, "the repeat was not counted again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_texts_and_their_repeats_from_one_resident_are_each_stored_once() {
    let app = Arc::new(spawn_app().await);
    let me = phone(4);
    app.say(&me, "PARKS").await;

    let texts: Vec<(String, String)> = (0..20)
        .map(|i| {
            (
                new_sid(),
                ["1", "weekly", "3", "yes", "ok", "never", "benches"][i % 7].to_string(),
            )
        })
        .collect();
    let mut set = tokio::task::JoinSet::new();
    for (sid, body) in texts.iter() {
        for _ in 0..2 {
            let (app, me, sid, body) = (app.clone(), me.clone(), sid.clone(), body.clone());
            set.spawn(async move { (sid.clone(), app.text_with_sid(&me, &body, &sid).await) });
        }
    }
    let mut replies: std::collections::HashMap<String, Vec<(reqwest::StatusCode, String)>> =
        Default::default();
    while let Some(done) = set.join_next().await {
        let (sid, reply) = done.unwrap();
        replies.entry(sid).or_default().push(reply);
    }
    for (sid, pair) in &replies {
        assert_eq!(pair.len(), 2);
        for (status, body) in pair {
            assert_eq!(*status, 200, "{sid}: {body}");
        }
        assert_eq!(
            pair[0], pair[1],
            "both deliveries of {sid} got the same reply"
        );
    }
    for (sid, _) in &texts {
        assert_eq!(
            app.count("messages", &format!("sid = '{sid}' AND direction = 'in'"))
                .await,
            1,
            "{sid} stored once"
        );
    }
    assert_eq!(app.count("messages", "direction = 'in'").await, 21);
    assert!(app.count("sessions", "status = 'active'").await <= 1);
    // Each answer row belongs to one inbound message, and no question is answered twice.
    let rows: Vec<(String, i64)> = app
        .db()
        .rows(
            "SELECT question, COUNT(*) FROM answers GROUP BY question",
            &[],
        )
        .await;
    for (question, n) in rows {
        assert_eq!(n, 1, "{question} answered twice");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_residents_starting_at_once_each_get_their_own_session() {
    let app = Arc::new(spawn_app().await);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        let app = app.clone();
        set.spawn(async move { app.text(&phone(100 + i), "PARKS").await });
    }
    while let Some(done) = set.join_next().await {
        let (status, twiml) = done.unwrap();
        assert_eq!(status, 200, "{twiml}");
        assert_eq!(common::messages(&twiml).len(), 2);
    }
    assert_eq!(app.count("contacts", "TRUE").await, 20);
    assert_eq!(app.count("sessions", "status = 'active'").await, 20);
}
