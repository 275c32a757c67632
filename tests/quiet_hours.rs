//! Quiet hours, black-box with an injected clock: the real outbox worker (reading the time from a
//! clock the test moves) sends to a local Twilio stub from a running gateway's database, and the
//! gateway answers residents' texts as usual. `CIVICTEXT_TEST_BACKEND=postgres` runs them on
//! PostgreSQL.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use civictext::config::Settings;
use civictext::outbound::worker::Clock;
use civictext::store::{Audience, NewBroadcast, Store};
use common::twilio_stub::TwilioStub;
use common::{TestApp, consenting, spawn_app_on};
use jiff::Timestamp;
use jiff::tz::TimeZone;

const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
const FROM: &str = "+15025550000";
const LOUISVILLE: &str = "America/Kentucky/Louisville";

/// A clock the test sets; it stands still in between.
struct TestClock(AtomicI64);

impl TestClock {
    fn at(local: &str) -> Arc<TestClock> {
        let clock = Arc::new(TestClock(AtomicI64::new(0)));
        clock.set(local);
        clock
    }

    /// Sets the time to `local`, a date and time in Louisville.
    fn set(&self, local: &str) {
        let t = local
            .parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned(TimeZone::get(LOUISVILLE).unwrap())
            .unwrap()
            .timestamp();
        self.0.store(t.as_microsecond(), Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_microsecond(self.0.load(Ordering::SeqCst)).unwrap()
    }
}

/// The outbox worker of a replica of `app`, sending to `stub`, with quiet hours 21:00–08:00,
/// reading the time from `clock`.
fn worker(
    app: &TestApp,
    store: &Store,
    stub: &TwilioStub,
    clock: Arc<TestClock>,
) -> civictext::outbound::OutboundHandle {
    let settings = Settings {
        twilio_account_sid: Some(ACCOUNT_SID.into()),
        twilio_from: Some(FROM.into()),
        twilio_api_base: stub.base(),
        outbound_mps: 50.0,
        quiet_hours: "21:00-08:00".into(),
        ..app.settings.clone()
    };
    civictext::outbound::start_with_clock(
        &settings,
        store,
        TimeZone::get(LOUISVILLE).unwrap(),
        clock,
    )
    .expect("the worker starts")
    .expect("sending is configured")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_unsolicited_goes_in_quiet_hours_and_it_goes_in_each_residents_morning() {
    let stub = TwilioStub::start().await;
    // The gateway itself has no Twilio account here: the only sender is the worker below.
    let app = spawn_app_on(&common::shipped_flows(), |_| {}).await;
    let store = Store::connect(&app.settings.database_url).await.unwrap();
    // A Louisville number, and a resident whose profile says she lives in California.
    let (kentucky, california) = ("+15025550101", "+15025550102");
    consenting(&store, &[kentucky, california]).await;
    let _: Vec<(i64,)> = app
        .db()
        .rows(
            "UPDATE contacts SET time_zone = 'America/Los_Angeles' WHERE phone = $1",
            &[california],
        )
        .await;

    // 06:00 in Louisville, 03:00 in California: quiet for both.
    let clock = TestClock::at("2026-12-03T06:00:00");
    let handle = worker(&app, &store, &stub, clock.clone());
    let (id, queued) = store
        .queue_broadcast(&NewBroadcast {
            texts: vec![("en".into(), "Youth planning meeting tonight 6pm.".into())],
            audience_label: "everyone".into(),
            audience: Audience::Everyone,
            topic: None,
            invitation: None,
            send_at: clock.now(),
            created_by: "test".into(),
            now: clock.now(),
        })
        .await
        .unwrap();
    assert_eq!(queued, 2);

    // The worker looks and holds each until 08:00 where the resident is (13:00 and 16:00 UTC).
    let held = || async {
        app.db()
            .rows::<(String, String, String)>(
                "SELECT to_addr, state, CAST(not_before AS TEXT) FROM outbox ORDER BY to_addr",
                &[],
            )
            .await
    };
    assert!(
        app.eventually(Duration::from_secs(10), || async {
            let rows = held().await;
            rows.len() == 2
                // PostgreSQL writes a space where SQLite's stored text has a T.
                && rows[0].2.replace(' ', "T").starts_with("2026-12-03T13:00:00")
                && rows[1].2.replace(' ', "T").starts_with("2026-12-03T16:00:00")
        })
        .await,
        "both held for their morning: {:?}",
        held().await
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(stub.accepted().is_empty(), "nothing sent at night");

    // 07:59, still quiet.
    clock.set("2026-12-03T07:59:00");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(stub.accepted().is_empty(), "nothing sent before 8");

    // 08:00 in Louisville: the Kentucky resident's text goes; it is 05:00 in California.
    clock.set("2026-12-03T08:00:01");
    assert!(
        app.eventually(Duration::from_secs(10), || async {
            stub.accepted().len() == 1
        })
        .await,
        "the morning text went"
    );
    assert_eq!(stub.accepted()[0].to, kentucky);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(stub.accepted().len(), 1, "California is still asleep");

    // 08:00 in California is 11:00 in Louisville.
    clock.set("2026-12-03T11:00:01");
    assert!(
        app.eventually(Duration::from_secs(10), || async {
            stub.accepted().len() == 2
        })
        .await,
        "the California text went in her morning"
    );
    assert_eq!(stub.accepted()[1].to, california);
    handle.stop().await;
    assert_eq!(
        app.count("outbox", &format!("broadcast_id = {id} AND state = 'sent'"))
            .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reply_to_the_residents_own_text_is_not_held_by_quiet_hours() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_on(&common::shipped_flows(), |_| {}).await;
    let store = Store::connect(&app.settings.database_url).await.unwrap();
    let resident = "+15025550103";
    consenting(&store, &[resident]).await;
    let clock = TestClock::at("2026-12-02T23:15:00");
    let handle = worker(&app, &store, &stub, clock.clone());
    let (id, _) = store
        .queue_broadcast(&NewBroadcast {
            texts: vec![("en".into(), "Meeting tomorrow.".into())],
            audience_label: "everyone".into(),
            audience: Audience::Everyone,
            topic: None,
            invitation: None,
            send_at: clock.now(),
            created_by: "test".into(),
            now: clock.now(),
        })
        .await
        .unwrap();
    assert!(
        app.eventually(Duration::from_secs(10), || async {
            app.count(
                "outbox",
                &format!("broadcast_id = {id} AND not_before > '2026-12-03'"),
            )
            .await
                == 1
        })
        .await,
        "the broadcast is held"
    );

    // The resident texts the city in the middle of the night: the answer comes at once, in the
    // webhook's reply, while the broadcast to the same number still waits for the morning.
    let replies = app.say(resident, "PLAN").await;
    assert!(
        replies.iter().any(|r| r.contains("How old are you?")),
        "{replies:?}"
    );
    let replies = app.say(resident, "17").await;
    assert_eq!(replies, vec!["What is your ZIP code?".to_string()]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(stub.accepted().is_empty(), "the broadcast still waits");
    handle.stop().await;
}
