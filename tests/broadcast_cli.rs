//! `civictext broadcast`, through the real binary against a running gateway's database: what
//! staff type, what it prints, what the gateway then sends (to a local Twilio stub), and the
//! survey invitation and flow consent that come with it. `CIVICTEXT_TEST_BACKEND=postgres` runs
//! them on PostgreSQL.

mod common;

use std::process::Output;
use std::time::Duration;

use civictext::config::Settings;
use civictext::store::Store;
use common::twilio_stub::TwilioStub;
use common::{TestApp, consenting, messages, shipped_flows, spawn_app_on, spawn_app_with};
use jiff::Timestamp;

const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
const FROM: &str = "+15025550000";

fn outbound(stub: &TwilioStub) -> impl FnOnce(&mut Settings) {
    let base = stub.base();
    move |s| {
        s.twilio_account_sid = Some(ACCOUNT_SID.into());
        s.twilio_from = Some(FROM.into());
        s.twilio_api_base = base;
        s.outbound_mps = 50.0;
        s.quiet_hours = "off".into();
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected a failure, got:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr.clone()).expect("UTF-8 output")
}

async fn store_of(app: &TestApp) -> Store {
    Store::connect(&app.settings.database_url)
        .await
        .expect("the gateway's database")
}

fn resident(n: u32) -> String {
    format!("+1502{n:07}")
}

/// Sets a contact's profile, as earlier conversations would have.
async fn profile(app: &TestApp, phone: &str, language: &str, zip: &str) {
    let fields = format!(r#"{{"zip": "{zip}"}}"#);
    let sql = match common::backend() {
        common::Backend::Sqlite => {
            "UPDATE contacts SET language = $1, fields = $2 WHERE phone = $3"
        }
        common::Backend::Postgres => {
            "UPDATE contacts SET language = $1, fields = $2::jsonb WHERE phone = $3"
        }
    };
    let _: Vec<(i64,)> = app.db().rows(sql, &[language, &fields, phone]).await;
}

async fn settled(app: &TestApp, id: i64) -> bool {
    app.eventually(Duration::from_secs(30), || async {
        app.count(
            "outbox",
            &format!("broadcast_id = {id} AND state IN ('queued', 'sending', 'in_doubt')"),
        )
        .await
            == 0
    })
    .await
}

/// The broadcast id in "Broadcast 7 queued: …".
fn queued_id(stdout: &str) -> i64 {
    stdout
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no broadcast id in {stdout:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dry_run_lists_recipients_and_cost_per_language_and_queues_nothing() {
    let app = spawn_app_with(|_| {}).await;
    let store = store_of(&app).await;
    let phones: Vec<String> = (1..=3).map(resident).collect();
    consenting(&store, &phones).await;
    profile(&app, &phones[0], "es", "40202").await;
    profile(&app, &phones[1], "en", "40203").await;

    let out = ok(&app.civictext_output(&[
        "broadcast",
        "--text",
        "Youth planning meeting Tuesday 6pm at the library.",
        "--text-es",
        "Reunión de jóvenes el martes a las 6pm en la biblioteca.",
        "--dry-run",
    ]));
    assert!(out.contains("Recipients (3):"), "{out}");
    for p in &phones {
        assert!(out.contains(p.as_str()), "{p} listed: {out}");
    }
    // Two residents get English (one has no language: the first text), one Spanish, which
    // is UCS-2 because of the accents.
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("en") && l.contains("GSM-7") && l.contains(" 2 ")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("es") && l.contains("UCS-2") && l.contains('$')),
        "{out}"
    );
    assert!(out.contains("total: 3 recipient(s), 3 segment(s)"), "{out}");
    assert_eq!(app.count("broadcasts", "TRUE").await, 0, "nothing queued");
    assert_eq!(app.count("outbox", "TRUE").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broadcast_from_the_command_line_reaches_each_consenting_resident_in_their_language() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_with(outbound(&stub)).await;
    let store = store_of(&app).await;
    let phones: Vec<String> = (1..=3).map(resident).collect();
    consenting(&store, &phones).await;
    profile(&app, &phones[0], "es", "40202").await;
    // Texted the city once, but never opted in: not in the audience.
    let (status, _) = app.text(&resident(9), "hello").await;
    assert!(status.is_success());

    let out = ok(&app.civictext_output(&[
        "broadcast",
        "--text",
        "Youth planning meeting Tuesday 6pm.",
        "--text-es",
        "Reunion de jovenes el martes 6pm.",
    ]));
    assert!(out.contains("3 text(s)"), "{out}");
    let id = queued_id(&out);
    assert!(settled(&app, id).await, "the gateway sent the broadcast");

    let accepted = stub.accepted();
    assert_eq!(accepted.len(), 3, "one text per consenting resident");
    let body_to = |p: &str| {
        accepted
            .iter()
            .find(|a| a.to == p)
            .map(|a| a.body.clone())
            .unwrap_or_else(|| panic!("nothing reached {p}"))
    };
    assert_eq!(body_to(&phones[0]), "Reunion de jovenes el martes 6pm.");
    assert_eq!(body_to(&phones[1]), "Youth planning meeting Tuesday 6pm.");
    assert!(!accepted.iter().any(|a| a.to == resident(9)));

    let status = ok(&app.civictext_output(&["broadcast", "status", &id.to_string()]));
    assert!(
        status.contains(&format!("broadcast {id}: queued — 3/3 done: 3 sent")),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn where_narrows_the_audience_to_residents_with_that_profile_field() {
    let app = spawn_app_with(|_| {}).await;
    let store = store_of(&app).await;
    let phones: Vec<String> = (1..=3).map(resident).collect();
    consenting(&store, &phones).await;
    profile(&app, &phones[0], "en", "40202").await;
    profile(&app, &phones[1], "en", "40203").await;
    profile(&app, &phones[2], "es", "40202").await;

    let out = ok(&app.civictext_output(&[
        "broadcast",
        "--text",
        "Road work on Main St in 40202 next week.",
        "--where",
        "zip=40202",
    ]));
    assert!(out.contains("2 text(s)"), "{out}");
    let to: Vec<String> = app
        .db()
        .scalars("SELECT to_addr FROM outbox ORDER BY to_addr", &[])
        .await;
    assert_eq!(to, vec![phones[0].clone(), phones[2].clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_csv_list_records_each_consent_with_where_and_when_before_queueing() {
    let app = spawn_app_with(|_| {}).await;
    let list = app.dir.path().join("fair-signups.csv");
    std::fs::write(
        &list,
        "phone,source,consented_at\n\
         (502) 555-0101,Youth fair signup sheet,2026-11-01 10:00\n\
         +15025550102,Library table,2026-11-02T15:00:00Z\n",
    )
    .unwrap();
    let out = ok(&app.civictext_output(&[
        "broadcast",
        "--text",
        "Thanks for signing up! Planning meeting Tuesday 6pm.",
        "--csv",
        list.to_str().unwrap(),
        "--topic",
        "youth-events",
    ]));
    assert!(out.contains("2 text(s)"), "{out}");
    let events: Vec<(String, String, Option<String>, String)> = app
        .db()
        .rows(
            "SELECT c.phone, e.source, e.topic, CAST(e.given_at AS TEXT)
             FROM consent_events e JOIN contacts c ON c.id = e.contact_id
             WHERE e.kind = 'opt_in' ORDER BY c.phone",
            &[],
        )
        .await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].0, "+15025550101", "the number was normalised");
    assert_eq!(events[0].1, "import:fair-signups: Youth fair signup sheet");
    assert_eq!(events[0].2.as_deref(), Some("youth-events"));
    // 10:00 in Louisville is 15:00 UTC.
    assert!(events[0].3.contains("15:00:00"), "{:?}", events[0]);
    assert_eq!(events[1].1, "import:fair-signups: Library table");
    assert_eq!(app.count("outbox", "kind = 'broadcast'").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_list_naming_a_resident_forgotten_after_opting_out_leaves_them_out_and_says_so() {
    let app = spawn_app_with(|_| {}).await;
    let gone = "+15025550101";
    app.say(gone, "STOP").await;
    app.civictext(&["contacts", "forget", gone]);
    assert_eq!(app.count("contacts", "TRUE").await, 0);
    let list = app.dir.path().join("fair-signups.csv");
    std::fs::write(
        &list,
        "phone,source,consented_at\n\
         (502) 555-0101,Youth fair signup sheet,2026-11-01 10:00\n\
         +15025550102,Library table,2026-11-02T15:00:00Z\n",
    )
    .unwrap();
    let send = |dry_run: bool| {
        let mut args = vec![
            "broadcast",
            "--text",
            "Thanks for signing up! Planning meeting Tuesday 6pm.",
            "--csv",
            list.to_str().unwrap(),
        ];
        if dry_run {
            args.push("--dry-run");
        }
        ok(&app.civictext_output(&args))
    };

    let preview = send(true);
    assert!(
        preview.contains("1 whose consent the list would record"),
        "{preview}"
    );
    assert!(
        preview.contains("1 number(s) of") && preview.contains("would be left out (line 2)"),
        "{preview}"
    );

    let out = send(false);
    assert!(out.contains("were left out (line 2)"), "{out}");
    assert!(out.contains("1 text(s)"), "{out}");
    // Only the other resident is recorded and texted; of the forgotten one nothing is stored
    // but the hash that keeps the opt-out.
    let phones: Vec<String> = app
        .db()
        .scalars("SELECT phone FROM contacts ORDER BY phone", &[])
        .await;
    assert_eq!(phones, ["+15025550102"]);
    assert_eq!(app.count("consent_events", "kind = 'opt_in'").await, 1);
    assert_eq!(app.count("outbox", "kind = 'broadcast'").await, 1);
    assert_eq!(app.count("forgotten_opt_outs", "TRUE").await, 1);
    assert!(
        app.civictext(&["contacts", "show", gone])
            .contains("forgotten while opted out"),
        "the opt-out is still on record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_csv_row_that_does_not_say_where_consent_was_given_is_refused_and_nothing_queued() {
    let app = spawn_app_with(|_| {}).await;
    let list = app.dir.path().join("list.csv");
    std::fs::write(
        &list,
        "phone,source,consented_at\n+15025550101,Fair,2026-11-01 10:00\n+15025550102,,2026-11-01 10:00\n",
    )
    .unwrap();
    let err = failed(&app.civictext_output(&[
        "broadcast",
        "--text",
        "Hello",
        "--csv",
        list.to_str().unwrap(),
    ]));
    assert!(err.contains("list.csv:3: no source"), "{err}");
    assert_eq!(app.count("consent_events", "TRUE").await, 0);
    assert_eq!(app.count("broadcasts", "TRUE").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_csv_consent_dated_in_the_future_is_refused_naming_its_line_and_nothing_queued() {
    let app = spawn_app_with(|_| {}).await;
    let list = app.dir.path().join("list.csv");
    let tomorrow = (Timestamp::now() + jiff::SignedDuration::from_hours(24)).to_string();
    std::fs::write(
        &list,
        format!(
            "phone,source,consented_at\n+15025550101,Fair,2026-11-01 10:00\n+15025550102,Fair,{tomorrow}\n"
        ),
    )
    .unwrap();
    for dry_run in [true, false] {
        let mut args = vec![
            "broadcast",
            "--text",
            "Hello",
            "--csv",
            list.to_str().unwrap(),
        ];
        if dry_run {
            args.push("--dry-run");
        }
        let err = failed(&app.civictext_output(&args));
        assert!(
            err.contains("list.csv:3: consented_at") && err.contains("is in the future"),
            "{err}"
        );
    }
    assert_eq!(app.count("consent_events", "TRUE").await, 0);
    assert_eq!(app.count("broadcasts", "TRUE").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_text_longer_than_one_message_can_be_is_refused() {
    let app = spawn_app_with(|_| {}).await;
    let long = "a".repeat(1601);
    let err = failed(&app.civictext_output(&["broadcast", "--text", &long]));
    assert!(err.contains("1601 characters"), "{err}");
    let err = failed(&app.civictext_output(&["broadcast", "--text", "Hi {{contact.name}}"]));
    assert!(err.contains("placeholder"), "{err}");
    assert_eq!(app.count("broadcasts", "TRUE").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_stops_a_scheduled_broadcast_before_anything_goes() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_with(outbound(&stub)).await;
    let store = store_of(&app).await;
    let phones: Vec<String> = (1..=4).map(resident).collect();
    consenting(&store, &phones).await;
    let tomorrow = (Timestamp::now() + jiff::SignedDuration::from_hours(24)).to_string();
    let out =
        ok(&app.civictext_output(&["broadcast", "--text", "Meeting tomorrow", "--at", &tomorrow]));
    let id = queued_id(&out);
    let out = ok(&app.civictext_output(&["broadcast", "cancel", &id.to_string()]));
    assert!(
        out.contains("4 text(s) that had not gone will not be sent"),
        "{out}"
    );
    let status = ok(&app.civictext_output(&["broadcast", "status"]));
    assert!(
        status.contains(&format!("broadcast {id}: cancelled — 4/4 done")),
        "{status}"
    );
    assert!(status.contains("4 cancelled"), "{status}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(stub.accepted().is_empty());
    let err = failed(&app.civictext_output(&["broadcast", "cancel", "999"]));
    assert!(err.contains("no broadcast 999"), "{err}");
}

/// Goes through the shipped youth survey from PLAN to its last question (the consent
/// question). A returning resident is not asked for their ZIP code again.
async fn survey_up_to_follow_up(app: &TestApp, phone: &str) {
    let replies = app.say(phone, "PLAN").await;
    assert!(
        replies.iter().any(|r| r.contains("How old are you?")),
        "{replies:?}"
    );
    let mut replies = app.say(phone, "16").await;
    if replies.iter().any(|r| r.contains("ZIP")) {
        replies = app.say(phone, "40202").await;
    }
    assert!(
        replies.iter().any(|r| r.contains("get around")),
        "{replies:?}"
    );
    for (text, expect) in [
        ("1", "safe walking"),
        ("yes", "improve first"),
        ("1", "1 to 5"),
        ("3", "youth planning events"),
    ] {
        let replies = app.say(phone, text).await;
        assert!(
            replies.iter().any(|r| r.contains(expect)),
            "{text} → {replies:?}"
        );
    }
}

/// A consent event: phone, kind, topic, MessageSid, source.
type ConsentRow = (String, String, Option<String>, Option<String>, String);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn yes_to_the_youth_events_question_is_a_consent_recorded_with_its_source() {
    let app = spawn_app_on(&shipped_flows(), |_| {}).await;
    let yes = resident(1);
    let no = resident(2);
    survey_up_to_follow_up(&app, &yes).await;
    survey_up_to_follow_up(&app, &no).await;
    let sid = common::new_sid();
    let (_, twiml) = app.text_with_sid(&yes, "Yes please", &sid).await;
    assert!(messages(&twiml)[0].contains("Thanks"));
    app.say(&no, "no").await;

    let events: Vec<ConsentRow> = app
        .db()
        .rows(
            "SELECT c.phone, e.kind, e.topic, e.message_sid, e.source
             FROM consent_events e JOIN contacts c ON c.id = e.contact_id
             WHERE e.kind = 'opt_in' ORDER BY e.id",
            &[],
        )
        .await;
    assert_eq!(events.len(), 1, "only the yes is a consent: {events:?}");
    assert_eq!(
        app.count(
            "consent_events",
            "kind = 'opt_out' AND topic = 'youth-events'"
        )
        .await,
        1,
        "the no is recorded as a refusal of the topic, not as a STOP"
    );
    let (phone, kind, topic, message_sid, source) = &events[0];
    assert_eq!(phone, &yes);
    assert_eq!(kind, "opt_in");
    assert_eq!(topic.as_deref(), Some("youth-events"));
    assert_eq!(message_sid.as_deref(), Some(sid.as_str()));
    let version: String = app
        .db()
        .scalar(
            "SELECT flow_version FROM answers WHERE question = 'follow-up' AND value = 'yes'",
            &[],
        )
        .await;
    assert_eq!(source, &format!("flow:youth-survey@{version}/follow-up"));

    // A broadcast to the topic reaches the resident who said yes, and only them.
    let out = ok(&app.civictext_output(&[
        "broadcast",
        "--text",
        "Youth planning meeting Tuesday 6pm.",
        "--topic",
        "youth-events",
        "--dry-run",
    ]));
    assert!(out.contains("Recipients (1):"), "{out}");
    assert!(
        out.contains(yes.as_str()) && !out.contains(no.as_str()),
        "{out}"
    );
}

/// Answers the youth survey's consent question (the resident must be at it) with `reply`,
/// from a text whose MessageSid is returned.
async fn answer_follow_up(app: &TestApp, phone: &str, reply: &str) -> String {
    let sid = common::new_sid();
    let (status, twiml) = app.text_with_sid(phone, reply, &sid).await;
    assert!(status.is_success());
    assert!(messages(&twiml)[0].contains("Thanks"), "{twiml}");
    sid
}

/// Takes the shipped youth survey from PLAN to the end, answering its consent question with
/// `reply`; the MessageSid of that answer.
async fn survey(app: &TestApp, phone: &str, reply: &str) -> String {
    survey_up_to_follow_up(app, phone).await;
    answer_follow_up(app, phone, reply).await
}

/// The numbers a broadcast to `topic` (None: no topic in particular) would reach now, from a
/// dry run.
fn dry_run_recipients(app: &TestApp, topic: Option<&str>) -> Vec<String> {
    let mut args = vec!["broadcast", "--text", "Meeting Tuesday 6pm.", "--dry-run"];
    if let Some(t) = topic {
        args.extend(["--topic", t]);
    }
    let out = ok(&app.civictext_output(&args));
    let (_, list) = out
        .split_once("Recipients (")
        .unwrap_or_else(|| panic!("no recipients in {out}"));
    let mut phones: Vec<String> = list
        .lines()
        .skip(1)
        .map_while(|l| l.strip_prefix("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|p| p.starts_with('+'))
        .map(str::to_string)
        .collect();
    phones.sort();
    phones
}

/// Records an opt-in of each of `phones` to `topic`, as a list imported for it does.
async fn consenting_to(store: &Store, phones: &[&str], topic: &str) {
    let rows: Vec<_> = phones
        .iter()
        .map(|p| civictext::store::ImportedConsent {
            phone: p.to_string(),
            source: "import:park-news-signups".into(),
            given_at: "2026-05-01T15:00:00Z".parse().unwrap(),
            topic: Some(topic.into()),
            erased_hash: format!("not-forgotten-{p}"),
        })
        .collect();
    store
        .import_consents(&rows, Timestamp::now())
        .await
        .expect("consents recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resident_who_answers_no_later_is_left_out_of_the_next_broadcast() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_on(&shipped_flows(), outbound(&stub)).await;
    let (stays, leaves) = (resident(1), resident(2));
    survey(&app, &stays, "yes").await;
    survey(&app, &leaves, "yes").await;
    assert_eq!(
        dry_run_recipients(&app, Some("youth-events")),
        [stays.clone(), leaves.clone()]
    );

    // Weeks later the same question, and this time the answer is no.
    let no = survey(&app, &leaves, "no").await;
    let out = ok(&app.civictext_output(&[
        "broadcast",
        "--text",
        "Youth planning meeting Tuesday 6pm.",
        "--topic",
        "youth-events",
    ]));
    assert!(out.contains("1 text(s)"), "{out}");
    let id = queued_id(&out);
    assert!(settled(&app, id).await, "the gateway sent the broadcast");
    let to: Vec<String> = stub.accepted().iter().map(|a| a.to.clone()).collect();
    assert_eq!(to, std::slice::from_ref(&stays));

    // The withdrawal is on record as such, with the text that made it; it is not a STOP.
    let shown = app.civictext(&["contacts", "show", &leaves]);
    assert!(shown.contains("not opted out"), "{shown}");
    let withdrawal = shown
        .lines()
        .find(|l| l.contains("withdrawal of youth-events"))
        .unwrap_or_else(|| panic!("no withdrawal in:\n{shown}"));
    assert!(
        withdrawal.contains(&format!("MessageSid {no}"))
            && withdrawal.contains("flow:youth-survey@")
            && withdrawal.contains("\"no\""),
        "{withdrawal}"
    );
    assert!(shown.contains("opt_in to youth-events"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn withdrawing_one_topic_keeps_consent_to_another() {
    let app = spawn_app_on(&shipped_flows(), |_| {}).await;
    let store = store_of(&app).await;
    // One signed up for park news and said yes to youth events, then no; the other opted in to
    // everything, then said no to youth events.
    let (two_topics, everything) = (resident(1), resident(2));
    consenting_to(&store, &[&two_topics], "park-news").await;
    survey(&app, &two_topics, "yes").await;
    survey(&app, &two_topics, "no").await;
    consenting(&store, std::slice::from_ref(&everything)).await;
    survey(&app, &everything, "no").await;

    let both = [two_topics.clone(), everything.clone()];
    assert_eq!(
        dry_run_recipients(&app, Some("youth-events")),
        Vec::<String>::new()
    );
    assert_eq!(dry_run_recipients(&app, Some("park-news")), both);
    assert_eq!(dry_run_recipients(&app, Some("road-works")), [everything]);
    assert_eq!(dry_run_recipients(&app, None), both);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_no_after_the_broadcast_was_queued_stops_the_text_at_send_time() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_on(&shipped_flows(), outbound(&stub)).await;
    let (stays, leaves) = (resident(1), resident(2));
    survey(&app, &stays, "yes").await;
    survey(&app, &leaves, "yes").await;
    survey_up_to_follow_up(&app, &leaves).await;

    // Queued a few seconds ahead while both consent; one of them says no before it goes.
    let soon = (Timestamp::now() + jiff::SignedDuration::from_secs(5)).to_string();
    let out = ok(&app.civictext_output(&[
        "broadcast",
        "--text",
        "Youth planning meeting Tuesday 6pm.",
        "--topic",
        "youth-events",
        "--at",
        &soon,
    ]));
    assert!(out.contains("2 text(s)"), "{out}");
    let id = queued_id(&out);
    answer_follow_up(&app, &leaves, "no").await;
    assert_eq!(
        app.count("outbox", "state = 'queued'").await,
        2,
        "the no came before the broadcast went"
    );

    assert!(
        settled(&app, id).await,
        "the gateway worked through the broadcast"
    );
    let to: Vec<String> = stub.accepted().iter().map(|a| a.to.clone()).collect();
    assert_eq!(to, [stays]);
    assert_eq!(app.count("outbox", "state = 'skipped'").await, 1);
    let skipped: String = app
        .db()
        .scalar("SELECT to_addr FROM outbox WHERE state = 'skipped'", &[])
        .await;
    assert_eq!(skipped, leaves);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answering_yes_again_after_no_restores_consent() {
    let app = spawn_app_on(&shipped_flows(), |_| {}).await;
    let phone = resident(1);
    survey(&app, &phone, "yes").await;
    survey(&app, &phone, "no").await;
    assert!(dry_run_recipients(&app, Some("youth-events")).is_empty());
    survey(&app, &phone, "yes").await;
    assert_eq!(dry_run_recipients(&app, Some("youth-events")), [phone]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invitation_opens_the_survey_when_sent_so_the_reply_is_its_first_answer() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_on(&shipped_flows(), outbound(&stub)).await;
    let store = store_of(&app).await;
    let (en, es) = (resident(1), resident(2));
    consenting(&store, &[en.clone(), es.clone()]).await;
    profile(&app, &es, "es", "40202").await;

    // A few seconds ahead, so the queued rows can be looked at before they go.
    let soon = (Timestamp::now() + jiff::SignedDuration::from_secs(5)).to_string();
    let out = ok(&app.civictext_output(&["broadcast", "--flow", "youth-survey", "--at", &soon]));
    let id = queued_id(&out);
    assert_eq!(app.count("outbox", "kind = 'invitation'").await, 2);
    assert_eq!(
        app.count("sessions", "TRUE").await,
        0,
        "no session before the text goes"
    );
    assert!(settled(&app, id).await, "the invitations were sent");
    let accepted = stub.accepted();
    let to_en = accepted.iter().find(|a| a.to == en).expect("sent to en");
    assert!(
        to_en.body.starts_with("Hi from City Planning!"),
        "{}",
        to_en.body
    );
    assert!(to_en.body.ends_with("How old are you?"), "{}", to_en.body);
    let to_es = accepted.iter().find(|a| a.to == es).expect("sent to es");
    assert!(
        to_es.body.ends_with("¿Cuántos años tiene?"),
        "{}",
        to_es.body
    );
    assert_eq!(
        app.count("sessions", "status = 'active' AND flow_id = 'youth-survey'")
            .await,
        2
    );

    // The reply is the answer to the first question, not a keyword or an unknown text.
    let replies = app.say(&en, "17").await;
    assert_eq!(replies, vec!["What is your ZIP code?".to_string()]);
    let age: String = app
        .db()
        .scalar("SELECT value FROM answers WHERE question = 'age'", &[])
        .await;
    assert_eq!(age, "17");
    // Her ZIP code is already known, so the survey goes on to how she gets around.
    let replies = app.say(&es, "15").await;
    assert!(
        replies.len() == 1 && replies[0].starts_with("¿Cómo se mueve por la ciudad?"),
        "{replies:?}"
    );
    assert_eq!(
        app.count(
            "outbox",
            "kind = 'invitation' AND state = 'sent' AND session_id IS NOT NULL"
        )
        .await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invitation_cancelled_before_it_goes_leaves_no_session() {
    let stub = TwilioStub::start().await;
    let app = spawn_app_on(&shipped_flows(), outbound(&stub)).await;
    let store = store_of(&app).await;
    consenting(&store, &[resident(1)]).await;
    let later = (Timestamp::now() + jiff::SignedDuration::from_hours(3)).to_string();
    let out = ok(&app.civictext_output(&["broadcast", "--flow", "youth-survey", "--at", &later]));
    let id = queued_id(&out);
    ok(&app.civictext_output(&["broadcast", "cancel", &id.to_string()]));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.count("sessions", "TRUE").await, 0);
    // The resident's next text is handled as any other: no survey is waiting for it.
    let replies = app.say(&resident(1), "17").await;
    assert!(!replies.iter().any(|r| r.contains("ZIP")), "{replies:?}");
}
