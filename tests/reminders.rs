//! Reminders and background expiry, end to end: a running gateway's sweep notices a resident
//! who went quiet, queues the flow's reminder or closes the conversation with its closing text,
//! and the outbox worker sends them through Twilio's REST API (a local stub that records what
//! it receives). The fixture flow counts in seconds (`remind_after: 2s`, `expires_after: 8s`)
//! so real time can pass. `CIVICTEXT_TEST_BACKEND=postgres` runs them on PostgreSQL.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use civictext::channel::twilio::sender::SendFrom;
use civictext::outbound::quiet_hours::QuietHours;
use civictext::outbound::worker::{OutboundSettings, Policy, SUPERSEDED};
use civictext::store::{ClaimSpec, Store};
use common::twilio_stub::{SENDER, TwilioStub};
use common::{TestApp, spawn_app_on};
use jiff::{SignedDuration, Timestamp};

const REMINDER: &str = "Still there? Reply 1 or 2 to our last question.";
const CLOSING: &str = "Pickup check-in closed. Text PICKUP to start again.";

fn reminder_flows() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reminder-flows")
}

/// A gateway on the reminder fixture flow that sweeps every second and sends through `stub`.
async fn gateway(stub: &TwilioStub, quiet_hours: &str) -> TestApp {
    let sending = stub.sending(50.0, quiet_hours);
    spawn_app_on(&reminder_flows(), move |s| {
        sending(s);
        s.sweep_interval = 1;
    })
    .await
}

async fn session_status(app: &TestApp, phone: &str) -> String {
    app.db()
        .scalar(
            "SELECT s.status FROM sessions s JOIN contacts c ON c.id = s.contact_id
             WHERE c.phone = $1 ORDER BY s.id DESC LIMIT 1",
            &[phone],
        )
        .await
}

/// Waits until the stub has accepted `n` texts for `to`.
async fn texts_arrive(app: &TestApp, stub: &TwilioStub, to: &str, n: usize) -> bool {
    app.eventually(Duration::from_secs(20), || async {
        stub.bodies_to(to).len() >= n
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resident_who_goes_quiet_is_reminded_once_and_the_conversation_closes_without_them() {
    let stub = TwilioStub::start().await;
    let app = gateway(&stub, "off").await;
    let resident = "+15025551001";
    let first = app.say(resident, "PICKUP").await;
    assert_eq!(
        first,
        ["Which day suits you for the pickup?\n1. Monday\n2. Tuesday"]
    );

    assert!(
        texts_arrive(&app, &stub, resident, 1).await,
        "the reminder arrived"
    );
    assert_eq!(stub.bodies_to(resident), [REMINDER]);
    assert_eq!(session_status(&app, resident).await, "active");

    // The resident never texts again: the sweep closes the conversation and says so.
    assert!(
        app.eventually(Duration::from_secs(20), || async {
            session_status(&app, resident).await == "expired"
        })
        .await,
        "the sweep closed the session"
    );
    assert!(
        texts_arrive(&app, &stub, resident, 2).await,
        "the closing text arrived"
    );
    // Several more sweeps pass: nothing more is sent.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(stub.bodies_to(resident), [REMINDER, CLOSING]);
    assert_eq!(
        app.count(
            "outbox",
            "kind IN ('reminder', 'expiry') AND state = 'sent' AND session_id IS NOT NULL"
        )
        .await,
        2
    );
    // The conversation's record says it expired; nothing was ever received after PICKUP.
    assert_eq!(
        app.count("messages", "direction = 'in'").await,
        1,
        "the resident texted only once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_question_answered_in_time_is_never_reminded_about() {
    let stub = TwilioStub::start().await;
    let app = gateway(&stub, "off").await;
    let resident = "+15025551002";
    app.say(resident, "PICKUP").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let answered = Instant::now();
    assert_eq!(
        app.say(resident, "2").await,
        ["Morning or afternoon?\n1. Morning\n2. Afternoon"]
    );

    // The second question goes unanswered and gets its reminder; the first never got one.
    assert!(texts_arrive(&app, &stub, resident, 1).await);
    let accepted = stub.accepted();
    let reminder = accepted.iter().find(|a| a.to == resident).unwrap();
    assert_eq!(reminder.body, REMINDER);
    assert!(
        reminder.at.duration_since(answered) >= Duration::from_secs(2),
        "the reminder counts from the answer, not from the start: it came {:?} after it",
        reminder.at.duration_since(answered)
    );
    let keys: Vec<String> = app
        .db()
        .scalars(
            "SELECT dedupe_key FROM outbox WHERE kind = 'reminder' ORDER BY id",
            &[],
        )
        .await;
    let session: i64 = app.db().scalar("SELECT MAX(id) FROM sessions", &[]).await;
    assert_eq!(
        keys,
        [format!("reminder:{session}:1")],
        "only the second question's"
    );

    // A resident who finishes gets nothing more, however long the gateway waits.
    assert_eq!(
        app.say(resident, "1").await,
        ["Thanks! We will text you the day before."]
    );
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(stub.bodies_to(resident), [REMINDER]);
    assert_eq!(session_status(&app, resident).await, "completed");
}

/// A quiet-hours window around the present moment in Louisville (the zone of area code 502).
fn quiet_now() -> String {
    let here = Timestamp::now()
        .in_tz("America/Kentucky/Louisville")
        .unwrap();
    let start = here.checked_sub(SignedDuration::from_hours(1)).unwrap();
    let end = here.checked_add(SignedDuration::from_hours(2)).unwrap();
    format!(
        "{:02}:{:02}-{:02}:{:02}",
        start.hour(),
        start.minute(),
        end.hour(),
        end.minute()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn during_quiet_hours_nothing_is_sent_and_a_reply_makes_the_waiting_reminder_moot() {
    let stub = TwilioStub::start().await;
    let quiet = quiet_now();
    let app = gateway(&stub, &quiet).await;
    let (answers, silent) = ("+15025551003", "+15025551004");
    app.say(answers, "PICKUP").await;
    app.say(silent, "PICKUP").await;

    // Both reminders are queued on time, and held until the morning.
    assert!(
        app.eventually(Duration::from_secs(20), || async {
            app.count("outbox", "kind = 'reminder'").await == 2
        })
        .await,
        "the reminders were queued"
    );
    // One resident answers while their reminder waits.
    assert_eq!(app.say(answers, "1").await.len(), 1);

    // Morning comes (the store takes the time as an argument): the reminder to the resident
    // who answered is dropped, the other goes.
    let store = Store::connect(&app.settings.database_url).await.unwrap();
    let morning = Timestamp::now() + SignedDuration::from_hours(12);
    let settings = OutboundSettings {
        from: SendFrom::Number(SENDER.into()),
        per_second: 1000.0,
        quiet_hours: Some(quiet.parse::<QuietHours>().unwrap()),
        gateway_zone: jiff::tz::TimeZone::get("America/Kentucky/Louisville").unwrap(),
        status_callback: None,
        worker: "morning".into(),
        poll: Duration::from_millis(200),
    };
    let policy = Policy {
        settings: &settings,
        now: morning,
    };
    let spec = ClaimSpec {
        worker: "morning".into(),
        sender: SENDER.into(),
        now: morning,
        lease: SignedDuration::from_secs(90),
        max_rows: 100,
    };
    let claim = store.claim_outbox(&spec, &policy).await.unwrap();
    let claimed: Vec<(&str, &str)> = claim
        .texts
        .iter()
        .map(|t| (t.to.as_str(), t.body.as_str()))
        .collect();
    assert_eq!(claimed, [(silent, REMINDER)]);
    // Dropped by this claim, or by the gateway's own worker if it looked after the answer.
    let skipped: (String, String) = app
        .db()
        .row(
            "SELECT to_addr, error FROM outbox WHERE state = 'skipped'",
            &[],
        )
        .await;
    assert_eq!(skipped, (answers.to_string(), SUPERSEDED.to_string()));

    // The silent resident's conversation is closed on time; its closing text waits too.
    assert!(
        app.eventually(Duration::from_secs(20), || async {
            session_status(&app, silent).await == "expired"
                && app
                    .count("outbox", "kind = 'expiry' AND state = 'queued'")
                    .await
                    >= 1
        })
        .await,
        "the silent resident's conversation was closed"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        stub.accepted().is_empty(),
        "nothing is sent in quiet hours: {:?}",
        stub.accepted()
    );
}
