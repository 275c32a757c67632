//! Texts the gateway starts, end to end: a running gateway's outbox worker sends broadcasts
//! through Twilio's REST API — here a local stub that records what it receives and answers with
//! Twilio's own error bodies. `CIVICTEXT_TEST_BACKEND=postgres` runs them on PostgreSQL.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use civictext::config::Settings;
use civictext::store::{Audience, ImportedConsent, NewBroadcast, Store};
use common::twilio_stub::{Behaviour, TwilioStub};
use common::{TestApp, consenting, spawn_app_with};
use jiff::{SignedDuration, Timestamp};

/// The account the test webhooks are signed for (tests/common).
const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
const FROM: &str = "+15025550000";

fn outbound(stub: &TwilioStub, mps: f64) -> impl FnOnce(&mut Settings) {
    let base = stub.base();
    move |s| {
        s.twilio_account_sid = Some(ACCOUNT_SID.into());
        s.twilio_from = Some(FROM.into());
        s.twilio_api_base = base;
        s.outbound_mps = mps;
        s.quiet_hours = "off".into();
    }
}

fn resident(n: u32) -> String {
    format!("+1502{n:07}")
}

async fn store_of(app: &TestApp) -> Store {
    Store::connect(&app.settings.database_url)
        .await
        .expect("the gateway's database")
}

async fn broadcast(
    store: &Store,
    text: &str,
    audience: Audience,
    send_at: Timestamp,
) -> (i64, i64) {
    store
        .queue_broadcast(&NewBroadcast {
            texts: vec![("en".into(), text.into())],
            audience_label: format!("{audience:?}"),
            audience,
            topic: None,
            invitation: None,
            send_at,
            created_by: "test".into(),
            now: Timestamp::now(),
        })
        .await
        .expect("broadcast queued")
}

/// Waits until no text of broadcast `id` is still queued, being sent, or in doubt.
async fn settled(app: &TestApp, id: i64, timeout: Duration) -> bool {
    app.eventually(timeout, || async {
        app.count(
            "outbox",
            &format!("broadcast_id = {id} AND state IN ('queued', 'sending', 'in_doubt')"),
        )
        .await
            == 0
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broadcast_to_two_thousand_consenting_residents_reaches_each_exactly_once() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_with(outbound(&stub, 400.0)).await;
    let store = store_of(&app).await;
    let phones: Vec<String> = (0..2000).map(resident).collect();
    consenting(&store, &phones).await;
    let (id, queued) = broadcast(
        &store,
        "Youth planning meeting Tuesday 6pm at the library. Reply STOP to opt out.",
        Audience::Everyone,
        Timestamp::now(),
    )
    .await;
    assert_eq!(queued, 2000);
    assert!(
        settled(&app, id, Duration::from_secs(60)).await,
        "the broadcast finished"
    );

    let per_number = stub.per_number();
    assert_eq!(per_number.len(), 2000, "every resident got the text");
    assert!(
        per_number.values().all(|n| *n == 1),
        "nobody got it twice: {:?}",
        per_number
            .iter()
            .filter(|(_, n)| **n > 1)
            .take(5)
            .collect::<Vec<_>>()
    );
    let expected: HashSet<_> = phones.iter().cloned().collect();
    assert_eq!(per_number.keys().cloned().collect::<HashSet<_>>(), expected);
    let accepted = stub.accepted();
    assert!(accepted.iter().all(|a| a.from.as_deref() == Some(FROM)));
    assert!(
        accepted.iter().all(|a| a.status_callback.as_deref()
            == Some("https://sms.example.gov/webhooks/twilio/status"))
    );
    // Every text is recorded as sent with Twilio's id, and tracked as an outbound message.
    assert_eq!(
        app.count(
            "outbox",
            &format!("broadcast_id = {id} AND state = 'sent' AND sid IS NOT NULL")
        )
        .await,
        2000
    );
    assert_eq!(
        app.count(
            "messages",
            "direction = 'out' AND route = 'outbox:broadcast' AND sid IS NOT NULL"
        )
        .await,
        2000
    );
    let progress = store.broadcast_progress(id).await.unwrap().unwrap();
    assert_eq!((progress.recipients, progress.sent), (2000, 2000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resident_who_opts_out_after_the_broadcast_was_queued_receives_nothing() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_with(outbound(&stub, 50.0)).await;
    let store = store_of(&app).await;
    let phones: Vec<String> = (100..110).map(resident).collect();
    consenting(&store, &phones).await;
    let (id, queued) = broadcast(
        &store,
        "Survey closes Friday.",
        Audience::Everyone,
        Timestamp::now() + SignedDuration::from_secs(2),
    )
    .await;
    assert_eq!(queued, 10);
    // Queued for everyone; then one resident texts STOP before it goes.
    let reply = app.say(&phones[3], "STOP").await;
    assert!(!reply.is_empty());
    assert!(settled(&app, id, Duration::from_secs(30)).await);
    let per_number = stub.per_number();
    assert_eq!(
        per_number.get(&phones[3]),
        None,
        "the opted-out resident got nothing"
    );
    assert_eq!(per_number.len(), 9);
    assert_eq!(
        app.count(
            "outbox o JOIN contacts c ON c.id = o.contact_id",
            &format!(
                "c.phone = '{}' AND o.state = 'skipped' AND o.error = 'opted out'",
                phones[3]
            )
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twilio_21610_is_recorded_as_an_opt_out_and_never_retried() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_with(outbound(&stub, 50.0)).await;
    let store = store_of(&app).await;
    let phones: Vec<String> = (200..205).map(resident).collect();
    consenting(&store, &phones).await;
    stub.set(&phones[1], Behaviour::OptedOut);
    let (id, _) = broadcast(&store, "Hello", Audience::Everyone, Timestamp::now()).await;
    assert!(settled(&app, id, Duration::from_secs(30)).await);
    assert_eq!(
        stub.attempts_to(&phones[1]),
        [400],
        "tried once, never again"
    );
    assert_eq!(
        app.count(
            "contacts",
            &format!("phone = '{}' AND opted_out = {}", phones[1], true_sql(&app))
        )
        .await,
        1,
        "the opt-out Twilio reported is recorded on the contact"
    );
    assert_eq!(
        app.count(
            "consent_events e JOIN contacts c ON c.id = e.contact_id",
            &format!(
                "c.phone = '{}' AND e.kind = 'opt_out' AND e.source = 'twilio:21610'",
                phones[1]
            )
        )
        .await,
        1
    );
    assert_eq!(
        app.count(
            "outbox",
            &format!("broadcast_id = {id} AND state = 'failed' AND error_code = 21610")
        )
        .await,
        1
    );
    // A later broadcast leaves them out from the start.
    let (_, queued) = broadcast(&store, "Again", Audience::Everyone, Timestamp::now()).await;
    assert_eq!(queued, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_number_is_marked_and_left_out_of_later_broadcasts() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_with(outbound(&stub, 50.0)).await;
    let store = store_of(&app).await;
    let phones: Vec<String> = (300..303).map(resident).collect();
    consenting(&store, &phones).await;
    stub.set(&phones[0], Behaviour::Invalid);
    let (id, _) = broadcast(&store, "Hello", Audience::Everyone, Timestamp::now()).await;
    assert!(settled(&app, id, Duration::from_secs(30)).await);
    assert_eq!(stub.attempts_to(&phones[0]), [400]);
    assert_eq!(
        app.count(
            "contacts",
            &format!("phone = '{}' AND invalid_at IS NOT NULL", phones[0])
        )
        .await,
        1
    );
    let (_, queued) = broadcast(&store, "Again", Audience::Everyone, Timestamp::now()).await;
    assert_eq!(queued, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limited_text_is_retried_and_arrives_once() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_with(outbound(&stub, 50.0)).await;
    let store = store_of(&app).await;
    let phones: Vec<String> = (400..403).map(resident).collect();
    consenting(&store, &phones).await;
    stub.set(&phones[2], Behaviour::RateLimitedOnce);
    let (id, _) = broadcast(&store, "Hello", Audience::Everyone, Timestamp::now()).await;
    assert!(settled(&app, id, Duration::from_secs(30)).await);
    assert_eq!(stub.attempts_to(&phones[2]), [429, 201]);
    assert_eq!(stub.per_number().get(&phones[2]), Some(&1));
    assert_eq!(
        app.count(
            "outbox",
            &format!("broadcast_id = {id} AND state = 'sent' AND attempts = 2")
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn residents_without_a_recorded_opt_in_are_not_broadcast_to() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_with(outbound(&stub, 50.0)).await;
    let store = store_of(&app).await;
    // One resident has only ever texted a keyword; one opted in.
    app.say(&resident(500), "PARKS").await;
    consenting(&store, &[resident(501)]).await;
    let (id, queued) = broadcast(&store, "Hello", Audience::Everyone, Timestamp::now()).await;
    assert_eq!(queued, 1);
    assert!(settled(&app, id, Duration::from_secs(30)).await);
    assert_eq!(
        stub.per_number().keys().collect::<Vec<_>>(),
        [&resident(501)]
    );
    // Named explicitly (a list of numbers), they are still left out without consent.
    let (_, queued) = broadcast(
        &store,
        "Hello",
        Audience::Phones(vec![resident(500), resident(501)]),
        Timestamp::now(),
    )
    .await;
    assert_eq!(queued, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_topic_broadcast_is_not_sent_on_the_strength_of_a_consent_to_another_topic() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_with(outbound(&stub, 50.0)).await;
    let store = store_of(&app).await;
    let (parks, library) = (resident(530), resident(531));
    let pseudonyms = civictext::startup::pseudonyms(&Settings::default(), &store)
        .await
        .expect("the installation's pseudonym key");
    let consent = |phone: &str, topic: &str, source: &str| ImportedConsent {
        phone: phone.into(),
        source: source.into(),
        given_at: "2026-05-01T15:00:00Z".parse().unwrap(),
        topic: Some(topic.into()),
        erased_hash: pseudonyms.erased_number(phone),
    };
    store
        .import_consents(
            &[
                consent(&parks, "parks", "import:parks-fair"),
                consent(&library, "parks", "import:misread-sheet"),
                consent(&library, "library", "import:library-desk"),
            ],
            Timestamp::now(),
        )
        .await
        .expect("consents recorded");
    let (id, queued) = store
        .queue_broadcast(&NewBroadcast {
            texts: vec![("en".into(), "Riverside Park reopens Saturday.".into())],
            audience_label: "parks".into(),
            audience: Audience::Everyone,
            topic: Some("parks".into()),
            invitation: None,
            send_at: Timestamp::now() + SignedDuration::from_secs(2),
            created_by: "test".into(),
            now: Timestamp::now(),
        })
        .await
        .expect("broadcast queued");
    assert_eq!(queued, 2);
    // The park consent was misread; the resident's consent to library news still stands, and
    // is no consent to park news.
    app.db()
        .execute("DELETE FROM consent_events WHERE source = 'import:misread-sheet'")
        .await;
    assert!(settled(&app, id, Duration::from_secs(30)).await);
    assert_eq!(stub.per_number().keys().collect::<Vec<_>>(), [&parks]);
    assert_eq!(
        app.count(
            "outbox",
            &format!("broadcast_id = {id} AND state = 'skipped'")
        )
        .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resident_forgotten_after_the_broadcast_was_queued_receives_nothing() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_with(outbound(&stub, 50.0)).await;
    let store = store_of(&app).await;
    let phones: Vec<String> = (540..543).map(resident).collect();
    consenting(&store, &phones).await;
    let (id, queued) = broadcast(
        &store,
        "Survey closes Friday.",
        Audience::Everyone,
        Timestamp::now() + SignedDuration::from_secs(2),
    )
    .await;
    assert_eq!(queued, 3);
    // Before it goes, one resident asks to be erased.
    app.civictext(&["contacts", "forget", &phones[1]]);
    assert!(settled(&app, id, Duration::from_secs(30)).await);
    let per_number = stub.per_number();
    assert_eq!(per_number.len(), 2, "{per_number:?}");
    assert_eq!(per_number.get(&phones[1]), None, "the forgotten resident");
    assert_eq!(
        app.count("outbox", &format!("broadcast_id = {id} AND state = 'sent'"))
            .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_twilio_credentials_nothing_is_sent_and_texts_stay_queued() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_with(|s| {
        s.twilio_api_base = stub.base();
        s.twilio_from = Some(FROM.into());
        s.twilio_account_sid = None;
    })
    .await;
    let store = store_of(&app).await;
    consenting(&store, &[resident(600)]).await;
    let (id, _) = broadcast(&store, "Hello", Audience::Everyone, Timestamp::now()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(stub.accepted().is_empty());
    assert_eq!(
        app.count(
            "outbox",
            &format!("broadcast_id = {id} AND state = 'queued'")
        )
        .await,
        1
    );
}

/// `TRUE` as the backend spells a stored boolean.
fn true_sql(app: &TestApp) -> &'static str {
    if app.settings.database_url.starts_with("sqlite:") {
        "1"
    } else {
        "TRUE"
    }
}

// ---------------------------------------------------------------------------------------------
// Delivery status callbacks

const STATUS_PATH: &str = "/webhooks/twilio/status";

fn callback(sid: &str, status: &str, error_code: Option<&str>) -> Vec<(String, String)> {
    let mut p = vec![
        ("MessageSid".to_string(), sid.to_string()),
        ("SmsSid".to_string(), sid.to_string()),
        ("MessageStatus".to_string(), status.to_string()),
        ("SmsStatus".to_string(), status.to_string()),
        ("AccountSid".to_string(), ACCOUNT_SID.to_string()),
        ("To".to_string(), resident(700)),
        ("From".to_string(), FROM.to_string()),
        ("ApiVersion".to_string(), "2010-04-01".to_string()),
    ];
    if let Some(code) = error_code {
        p.push(("ErrorCode".to_string(), code.to_string()));
    }
    p
}

async fn post_status(app: &TestApp, params: &[(String, String)], signed: bool) -> u16 {
    let sig = civictext::channel::twilio::signature::compute(
        common::TEST_TOKEN,
        &format!("{}{STATUS_PATH}", common::PUBLIC_URL),
        params,
    );
    app.post_form(STATUS_PATH, params, signed.then_some(sig.as_str()))
        .await
        .0
        .as_u16()
}

/// Sends one broadcast text to each of `phones` and returns Twilio's id for each.
async fn sent_to(app: &TestApp, stub: &TwilioStub, phones: &[String]) -> Vec<String> {
    let store = store_of(app).await;
    consenting(&store, phones).await;
    let (id, _) = broadcast(
        &store,
        "Hello",
        Audience::Phones(phones.to_vec()),
        Timestamp::now(),
    )
    .await;
    assert!(settled(app, id, Duration::from_secs(30)).await);
    phones
        .iter()
        .map(|p| {
            stub.accepted()
                .into_iter()
                .find(|a| &a.to == p)
                .expect("sent")
                .sid
        })
        .collect()
}

async fn message_status(app: &TestApp, sid: &str) -> (String, Option<i64>) {
    let status: String = app
        .db()
        .scalar("SELECT status FROM messages WHERE sid = $1", &[sid])
        .await;
    let code: Option<i64> = app
        .db()
        .scalar(
            "SELECT CAST(error_code AS BIGINT) FROM messages WHERE sid = $1",
            &[sid],
        )
        .await;
    (status, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signed_status_callbacks_move_a_message_forward_and_never_back() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_with(outbound(&stub, 50.0)).await;
    let sids = sent_to(&app, &stub, &[resident(700)]).await;
    let sid = &sids[0];
    assert_eq!(message_status(&app, sid).await.0, "queued");
    assert_eq!(
        post_status(&app, &callback(sid, "sent", None), true).await,
        200
    );
    assert_eq!(message_status(&app, sid).await.0, "sent");
    assert_eq!(
        post_status(&app, &callback(sid, "delivered", None), true).await,
        200
    );
    // Late callbacks for earlier stages change nothing.
    for stale in ["sending", "sent", "queued"] {
        assert_eq!(
            post_status(&app, &callback(sid, stale, None), true).await,
            200
        );
    }
    assert_eq!(
        message_status(&app, sid).await,
        ("delivered".to_string(), None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_undelivered_callback_keeps_twilios_error_code() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_with(outbound(&stub, 50.0)).await;
    let sids = sent_to(&app, &stub, &[resident(701)]).await;
    assert_eq!(
        post_status(
            &app,
            &callback(&sids[0], "undelivered", Some("30007")),
            true
        )
        .await,
        200
    );
    assert_eq!(
        message_status(&app, &sids[0]).await,
        ("undelivered".to_string(), Some(30007))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unsigned_or_forged_status_callbacks_are_refused() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_with(outbound(&stub, 50.0)).await;
    let sids = sent_to(&app, &stub, &[resident(702)]).await;
    assert_eq!(
        post_status(&app, &callback(&sids[0], "failed", None), false).await,
        403
    );
    let (status, _) = app
        .post_form(
            STATUS_PATH,
            &callback(&sids[0], "failed", None),
            Some("Zm9yZ2Vk"),
        )
        .await;
    assert_eq!(status.as_u16(), 403);
    assert_eq!(message_status(&app, &sids[0]).await.0, "queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_callback_for_an_unknown_message_is_acknowledged_and_changes_nothing() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_with(outbound(&stub, 50.0)).await;
    let before = app.count("messages", "TRUE").await;
    assert_eq!(
        post_status(
            &app,
            &callback("SMdoesnotexist000000000000000000", "delivered", None),
            true
        )
        .await,
        200
    );
    assert_eq!(app.count("messages", "TRUE").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repeated_carrier_failures_make_a_number_unreachable_for_broadcasts() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_with(outbound(&stub, 50.0)).await;
    let phone = resident(703);
    for round in 0..3 {
        let sids = sent_to(&app, &stub, std::slice::from_ref(&phone)).await;
        let latest = sids.last().unwrap();
        let sid = stub
            .accepted()
            .into_iter()
            .filter(|a| a.to == phone)
            .nth(round)
            .map(|a| a.sid)
            .unwrap_or(latest.clone());
        assert_eq!(
            post_status(&app, &callback(&sid, "undelivered", Some("30003")), true).await,
            200
        );
    }
    assert_eq!(
        app.count(
            "contacts",
            &format!("phone = '{phone}' AND unreachable_at IS NOT NULL")
        )
        .await,
        1
    );
    let store = store_of(&app).await;
    let (_, queued) = broadcast(&store, "Again", Audience::Everyone, Timestamp::now()).await;
    assert_eq!(queued, 0, "broadcasts skip an unreachable number");
}
