//! A flow can never flood a resident: a reply carries at most
//! `engine::MAX_TEXTS_PER_REPLY` texts, and a turn that would need more ends the conversation
//! with one apology and an error in the log. Through the real webhook.

mod common;

use civictext::flow::engine::MAX_TEXTS_PER_REPLY;
use common::{phone, spawn_app_on};

/// A flow that passes `flows check` but greets with one text more than a reply may carry.
fn chatty() -> String {
    let mut s = String::from("flow: chatty\nkeywords: [CHATTY]\nsteps:\n");
    for i in 1..=MAX_TEXTS_PER_REPLY {
        s.push_str(&format!("  - say: Welcome text {i}\n"));
    }
    s.push_str("  - ask: ok\n    type: yes_no\n    text: Still there?\n");
    s
}

#[tokio::test]
async fn a_flow_that_would_send_more_texts_than_a_reply_carries_is_stopped_with_one_apology() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("chatty.yaml"), chatty()).unwrap();
    let app = spawn_app_on(dir.path(), |_| {}).await;
    let me = phone(1);

    assert_eq!(
        app.say(&me, "CHATTY").await,
        ["Sorry, something went wrong on our side. Please try again later."]
    );
    let sessions: Vec<(String, String)> = app
        .db()
        .rows(
            "SELECT s.flow_id, s.status FROM sessions s
             JOIN contacts c ON c.id = s.contact_id WHERE c.phone = $1",
            &[&me],
        )
        .await;
    assert_eq!(
        sessions,
        [("chatty".to_string(), "interrupted".to_string())]
    );
    assert_eq!(
        app.count("messages", "direction = 'in' AND route = 'flow_error'")
            .await,
        1
    );
    // The conversation is over: the next text is handled afresh, not as an answer.
    assert_eq!(app.count("answers", "1 = 1").await, 0);
    app.say(&me, "yes").await;
    assert_eq!(app.count("answers", "1 = 1").await, 0);
}
